#!/usr/bin/env python3
"""gen_bad.py OUTDIR -- write the bad-input messages BI-nn*.eml of
RELIABILITY.md section (a) into OUTDIR, deterministically (no randomness,
no clock).  Python 3 stdlib only.  Files are written with LF line ends;
milterdrv turns body LFs into CRLF (as sendmail sends them) and keeps a
bare CR.  Several rows have variants (BI-10a, BI-10b, ...).

Markers the checker looks for in the delivered body:
  EXE_B64   first line of the base64 of a small MZ program
  PAYLOAD-nn  harmless content of the name-obfuscation parts (BI-26)
"""
import base64
import io
import os
import struct
import sys
import zipfile

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
MZ = (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
      + b"\xb8" + b"\x00" * 47
      + b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21"
      + b"This program cannot be run in DOS mode.\r\r\n$" + b"\x00" * 64)


def b64lines(data, width=76):
    s = base64.b64encode(data).decode()
    return "\n".join(s[i:i + width] for i in range(0, len(s), width)) + "\n"


EXE_B64 = b64lines(MZ)
EXE_MARK = EXE_B64.split("\n")[0][:40]   # checker: must not be delivered

HDR = ("From: Bad Input <bad@example.org>\nTo: victim@example.com\n"
       "Date: Mon, 1 Jan 2024 00:00:00 +0000\n")


def hdr(n, subject=None, mime=True, extra=""):
    h = HDR + "Subject: %s\nMessage-ID: <%s@badinput.test>\n" % (
        subject if subject is not None else "bad input " + n, n)
    if mime:
        h += "MIME-Version: 1.0\n"
    return h + extra


def exe_part(name="x.exe", ctype="application/octet-stream"):
    return ('Content-Type: %s; name="%s"\n'
            'Content-Disposition: attachment; filename="%s"\n'
            "Content-Transfer-Encoding: base64\n\n%s" % (ctype, name, name,
                                                         EXE_B64))


TEXT = "Content-Type: text/plain; charset=us-ascii\n\nPlease see the attachment.\n"


def mixed(n, parts, boundary="b1", extra_hdr="", mime=True):
    body = "".join("--%s\n%s" % (boundary, p) for p in parts)
    body += "--%s--\n" % boundary
    return (hdr(n, mime=mime, extra=extra_hdr)
            + 'Content-Type: multipart/mixed; boundary="%s"\n\n' % boundary
            + body)


def tnef(name, data):
    def attr(level, aid, d):
        return (bytes([level]) + struct.pack("<II", aid, len(d)) + d
                + struct.pack("<H", sum(d) & 0xFFFF))
    out = struct.pack("<IH", 0x223E9F78, 0x0001)
    out += attr(1, 0x00089006, struct.pack("<I", 0x00010000))
    out += attr(1, 0x00069007, b"1252\x00\x00\x00\x00")
    out += attr(2, 0x00069002, struct.pack("<I", 1))
    out += attr(2, 0x00018010, name.encode() + b"\x00")
    out += attr(2, 0x0006800F, data)
    return out


def zipbytes(members, level=9):
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as z:
        for name, data in members:
            zi = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, data)
    return bio.getvalue()


def gen(out):
    files = {}

    def put(name, text):
        files[name] = text.encode("utf-8", "surrogateescape") \
            if isinstance(text, str) else text

    # BI-01 1000-level multipart nesting, program at the bottom
    h = hdr("BI-01")
    s = []
    for i in range(1000):
        s.append('Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i))
    put("BI-01.eml", h + "".join(s) + exe_part() + "--b999--\n")

    # BI-02 200 nested message/rfc822, program at the bottom
    inner = ("From: a@example.org\nSubject: level\nMIME-Version: 1.0\n"
             'Content-Type: multipart/mixed; boundary="z"\n\n--z\n'
             + exe_part() + "--z--\n")
    for i in range(200):
        inner = ("From: a@example.org\nSubject: fwd %d\nMIME-Version: 1.0\n"
                 "Content-Type: message/rfc822\n\n" % i) + inner
    put("BI-02.eml", hdr("BI-02", extra="Content-Type: message/rfc822\n\n") + inner)

    # BI-03 50 levels all with boundary=foobar, and a unique-boundary twin
    for tag, bnd in (("BI-03a", lambda i: "foobar"), ("BI-03b", lambda i: "u%d" % i)):
        s = []
        for i in range(50):
            s.append('Content-Type: multipart/mixed; boundary="%s"\n\n--%s\n'
                     % (bnd(i), bnd(i)))
        tail = "".join("--%s--\n" % bnd(i) for i in reversed(range(50)))
        put(tag + ".eml", hdr(tag) + "".join(s) + exe_part() + tail)

    # BI-04 part bomb: 100 000 empty parts, then a program
    put("BI-04.eml", hdr("BI-04") + 'Content-Type: multipart/mixed; boundary="b"\n\n'
        + "--b\n\n" * 100000 + "--b\n" + exe_part() + "--b--\n")

    # BI-05 1 MiB unfolded Subject
    # a: the longest Subject one milter packet carries (libmilter 64 KiB);
    # b: 1 MiB Subject in the header of an attached message (parsed by
    #    MailCorral itself); c: 1 MiB top-level Subject (over the packet cap)
    put("BI-05a.eml", hdr("BI-05a", subject="A" * 65000, mime=False) + "\nplain body\n")
    put("BI-05b.eml", hdr("BI-05b") + 'Content-Type: multipart/mixed; boundary="b1"\n\n--b1\n'
        + TEXT + "--b1\nContent-Type: message/rfc822\n\nFrom: a@example.org\nSubject: "
        + "A" * 1048576 + "\n\ninner body\n--b1\n" + exe_part() + "--b1--\n")
    put("BI-05c.eml", hdr("BI-05c", subject="A" * 1048576, mime=False) + "\nplain body\n")

    # BI-06 header flood: 100 000 To: lines
    put("BI-06.eml", hdr("BI-06", mime=False)
        + "".join("To: a%d@x.test\n" % i for i in range(100000)) + "\nbody\n")

    # BI-07 50 MB body line without a newline
    put("BI-07.eml", (hdr("BI-07", mime=False) + "\n").encode() + b"A" * 50000000)

    # BI-08 boundary bomb: 10 KB boundary, 1000 lines of a 9999-byte prefix
    bnd = ("q" * 10240)
    put("BI-08.eml", hdr("BI-08") + 'Content-Type: multipart/mixed; boundary="%s"\n\n' % bnd
        + ("--" + bnd[:9999] + "\n") * 1000
        + "--" + bnd + "\n" + exe_part() + "--" + bnd + "--\n")

    # BI-09 truncated message: 3 parts, cut in the middle of the base64 program
    full = mixed("BI-09", [TEXT, "Content-Type: text/plain\n\nsecond part\n",
                           exe_part("report.exe")])
    cut = full.index(EXE_B64) + len(EXE_B64) // 2
    put("BI-09.eml", full[:cut])

    # BI-10 program after the closing delimiter (a) / before the first (b)
    put("BI-10a.eml", mixed("BI-10a", [TEXT]) + "--b1\n" + exe_part() + "\n")
    put("BI-10b.eml", hdr("BI-10b") + 'Content-Type: multipart/mixed; boundary="b1"\n\n'
        + "This is a preamble.\n" + exe_part() + "--b1\n" + TEXT + "--b1--\n")

    # BI-11 RFC 2231 bomb: 10 000 sections, and 10 000 distinct parameters
    secs = "".join('; filename*%d="a"' % i for i in range(10000))
    params = "".join("; p%d=v" % i for i in range(10000))
    put("BI-11.eml", mixed("BI-11", [TEXT,
        'Content-Type: application/octet-stream; name="x.exe"%s\n'
        "Content-Disposition: attachment%s\n"
        "Content-Transfer-Encoding: base64\n\n%s" % (params, secs, EXE_B64)]))

    # BI-12 RFC 2047 bomb and bad charsets
    subj = ("=?UTF-8?B?QQ==?= " * 50000 + "=?UTF-7?Q?+AGEAYgBj-?= =?x-bogus?Q?abc?= "
            + "=?" + "c" * 200 + "?Q?abc?= =?UTF-8?Q?trunc")
    small = ("=?UTF-8?B?QQ==?= " * 3500 + "=?UTF-7?Q?+AGEAYgBj-?= =?x-bogus?Q?abc?= "
             + "=?" + "c" * 200 + "?Q?abc?= =?UTF-8?Q?trunc")
    put("BI-12.eml", hdr("BI-12", subject=small) + 'Content-Type: multipart/mixed; boundary="b1"\n\n--b1\n'
        + TEXT + "--b1\nContent-Type: message/rfc822\n\nFrom: a@example.org\nSubject: "
        + subj + "\n\ninner body\n--b1--\n")

    # BI-13 malformed base64 (three parts)
    junk = "".join(ch + ("!" if i % 7 == 3 else "") for i, ch in
                   enumerate(base64.b64encode(MZ).decode()))
    mid = base64.b64encode(b"ABC").decode() + "=" + base64.b64encode(MZ).decode()
    big = base64.b64encode(b"harmless data " * 75000).decode().rstrip("=")
    put("BI-13.eml", mixed("BI-13", [TEXT,
        'Content-Type: application/octet-stream; name="data1.bin"\n'
        "Content-Transfer-Encoding: base64\n\n" + junk + "\n",
        'Content-Type: application/octet-stream; name="data2.bin"\n'
        "Content-Transfer-Encoding: base64\n\n" + mid + "\n",
        'Content-Type: application/octet-stream; name="data3.bin"\n'
        "Content-Transfer-Encoding: base64\n\n" + big + "\n"]))

    # BI-14 quoted-printable edges
    put("BI-14.eml", mixed("BI-14", [
        "Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n"
        "bad =ZZ escape and =4 short\nsoft=\nbreak=\n=\n" + "=41" * 349525 + "\nend=\n",
        "Content-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n"
        "<p>x</p><scr=\nipt>alert(1)</scr=\nipt>=\n"]))

    # small twins for the chunk-size replay (BI-29)
    put("BI-13s.eml", mixed("BI-13s", [TEXT,
        'Content-Type: application/octet-stream; name="data1.bin"\n'
        "Content-Transfer-Encoding: base64\n\n" + junk + "\n",
        'Content-Type: application/octet-stream; name="data2.bin"\n'
        "Content-Transfer-Encoding: base64\n\n" + mid + "\n"]))
    put("BI-14s.eml", mixed("BI-14s", [
        "Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n"
        "bad =ZZ escape and =4 short\nsoft=\nbreak=\n=\n" + "=41" * 3000 + "\nend=\n",
        "Content-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n"
        "<p>x</p><scr=\nipt>alert(1)</scr=\nipt>=\n"]))

    # BI-15 uuencoded program inside text/plain
    import binascii
    uu = "".join(binascii.b2a_uu(MZ[i:i + 45]).decode() for i in range(0, len(MZ), 45))
    put("BI-15.eml", hdr("BI-15") + "Content-Type: text/plain\n\nSee below.\n\n"
        "begin 644 invoice.exe\n" + uu + "`\nend\n\nbye\n")

    # BI-16 NUL, bare CR, mixed line ends
    put("BI-16.eml", (hdr("BI-16", subject="a\rb", mime=False) + "X-Nul: a").encode()
        + b"\x00b\n\nline one\x00 with nul\nbare\rcr\n.\nlast\r\n")

    # BI-18 degenerate messages
    put("BI-18a.eml", hdr("BI-18a", mime=False) + "\n")
    put("BI-18b.eml", hdr("BI-18b", mime=False))
    put("BI-18c.eml", "\nno header at all\n")
    put("BI-18d.eml", hdr("BI-18d") + "Content-Type: multipart/mixed\n\n--b\n" + exe_part() + "--b--\n")
    put("BI-18e.eml", hdr("BI-18e") + 'Content-Type: multipart/mixed; boundary=""\n\n--\n'
        + exe_part() + "----\n")

    # BI-19 message/partial fragments of a program
    whole = ("From: a@example.org\nMIME-Version: 1.0\n" + exe_part("frag.exe")).encode()
    third = (len(whole) + 2) // 3
    for k in range(3):
        frag = whole[k * third:(k + 1) * third].decode()
        put("BI-19%s.eml" % "abc"[k], hdr("BI-19" + "abc"[k]) +
            'Content-Type: message/partial; id="../../x"; number=%d; total=3\n\n' % (k + 1) + frag)

    # BI-20 TNEF carrying evil.exe (harmless bytes, so only the name counts)
    put("BI-20.eml", mixed("BI-20", [TEXT,
        'Content-Type: application/ms-tnef; name="winmail.dat"\n'
        'Content-Disposition: attachment; filename="winmail.dat"\n'
        "Content-Transfer-Encoding: base64\n\n" + b64lines(tnef("evil.exe", b"PAYLOAD-TNEF harmless"))]))

    # BI-21 decompression bomb (nested zip of zeros)
    z1 = zipbytes([("zeros%d.bin" % i, b"\0" * (20 * 1024 * 1024)) for i in range(4)])
    z2 = zipbytes([("inner%d.zip" % i, z1) for i in range(4)])
    put("BI-21.eml", mixed("BI-21", [TEXT,
        'Content-Type: application/zip; name="bomb.zip"\n'
        "Content-Transfer-Encoding: base64\n\n" + b64lines(z2)]))

    # BI-22 30 MB attachment (above clamd StreamMaxLength 25M)
    put("BI-22.eml", mixed("BI-22", [TEXT,
        'Content-Type: application/octet-stream; name="big.bin"\n'
        "Content-Transfer-Encoding: base64\n\n" + b64lines(b"\x01\x02big" * (30 * 1024 * 1024 // 5))]))

    # BI-23 duplicate Content-Type
    put("BI-23.eml", hdr("BI-23") + "Content-Type: text/plain\n"
        'Content-Type: multipart/mixed; boundary="X"\n\n--X\n' + TEXT + "--X\n"
        + exe_part() + "--X--\n")

    # BI-24 two boundary parameters, the program only in the B view
    put("BI-24.eml", hdr("BI-24") + 'Content-Type: multipart/mixed; boundary="A"; boundary="B"\n\n'
        "--A\n" + TEXT + "--B\n" + exe_part() + "--B--\n--A--\n")

    # BI-25 boundary syntax variants
    def bv(tag, ctype_lines, delim, extra=""):
        put(tag + ".eml", hdr(tag) + ctype_lines + extra + "\n"
            + "--%s\n%s--%s\n%s--%s--\n" % (delim, TEXT, delim, exe_part(), delim))
    bv("BI-25a", "Content-Type: multipart/mixed; boundary= XYZ\n", "XYZ")
    bv("BI-25b", "Content-Type: multipart/mixed; boundary=ab cd\n", "ab cd")
    bv("BI-25c", 'Content-Type: multipart/mixed; boundary="a\\"b"\n', 'a"b')
    bv("BI-25d", 'Content-Type: multipart/mixed; boundary*0="ab"; boundary*1="cd"\n', "abcd")
    bv("BI-25e", "Content-Type: multipart/mixed\n", "XYZ",
       'Content-Disposition: inline; boundary="XYZ"\n')
    bv("BI-25f", 'Content-Type(x): multipart/mixed; boundary="XYZ"\n', "XYZ")
    bv("BI-25g", 'Content-Type: multipart/mixed; boundary="XYZ\n', "XYZ")
    bv("BI-25h", 'Content-Type: multipart/mixed\n\t; boundary="XYZ"\n', "XYZ")

    # BI-26 attachment-name obfuscation: 12 parts, harmless content
    names = [
        'name="inv.pdf.exe"',
        'name="inv.exe."',
        'name="inv.exe "',
        'name="INV.EXE"',
        'name="inv\u202efdp.exe"',
        "name*=UTF-8''a.txt%00.exe",
        'name="=?UTF-8?B?aW52LmV4ZQ==?="',
        "name*=UTF-8''inv%2Eexe",
        'name*0="inv.e"; name*1="xe"',
        'name="a.txt"\nContent-Disposition: attachment; filename="a.exe"',
        'name="..\\\\..\\\\x.exe"',
        'name="C:\\\\x.exe"',
    ]
    parts = [TEXT]
    for i, nm in enumerate(names):
        parts.append("Content-Type: application/octet-stream; %s\n"
                     "Content-Transfer-Encoding: 7bit\n\nPAYLOAD-%02d harmless\n" % (nm, i + 1))
    put("BI-26.eml", mixed("BI-26", parts))

    # BI-27 no MIME-Version; text/plain part whose base64 decodes to MZ
    put("BI-27.eml", mixed("BI-27", [TEXT, exe_part(),
        'Content-Type: text/plain; name="notes.txt"\nContent-Transfer-Encoding: base64\n\n'
        + EXE_B64], mime=False))
    # a twin whose only program is the text/plain one (marker checked alone)
    put("BI-27b.eml", mixed("BI-27b", [TEXT,
        'Content-Type: text/plain; name="notes.txt"\nContent-Transfer-Encoding: base64\n\n'
        + EXE_B64], mime=False))

    # BI-28 header syntax oddities
    def hv(tag, ctype):
        put(tag + ".eml", hdr(tag) + ctype + "\n--XYZ\n" + TEXT + "--XYZ\n" + exe_part()
            + "--XYZ--\n")
    hv("BI-28a", 'Content-Type : multipart/mixed; boundary="XYZ"\n')
    hv("BI-28b", 'X-Before: 1\nthis line has no colon\nContent-Type: multipart/mixed; boundary="XYZ"\n')
    hv("BI-28c", 'Content-Type: multipart/mixed;\r\n\tboundary="XYZ"\n')
    hv("BI-28d", 'Content-Type: multipart/mixed;\n boundary="XYZ"\n')
    hv("BI-28e", 'Content-Type: multipart/mixed;\r boundary="XYZ"\n')

    # BI-30 mix for the many-transactions run
    put("BI-30-spam.eml", hdr("BI-30s", mime=False) + "\n" + GTUBE + "\n")

    # BI-31 CRLF header injection via decoding (tag config: [SPAM] prefix)
    put("BI-31.eml", hdr("BI-31", subject="=?UTF-8?Q?hi=0D=0ABcc:_evil@x.test?=") +
        'Content-Type: multipart/mixed; boundary="b1"\n\n--b1\nContent-Type: text/plain\n\n'
        + GTUBE + "\n--b1\nContent-Type: application/octet-stream; name*=UTF-8''x%0D%0ABcc:%20evil@x.test%0D%0A.exe\n"
        "Content-Transfer-Encoding: base64\n\n" + EXE_B64 + "--b1--\n")

    # BI-32 MIME injection through the warning text
    put("BI-32.eml", mixed("BI-32", [TEXT,
        "Content-Type: application/octet-stream; "
        "name*=UTF-8''x%0A--b1--%0AContent-Type:%20text/html%0A%0A%3Cscript%3E.exe\n"
        "Content-Transfer-Encoding: base64\n\n" + EXE_B64]))

    # BI-33 format-string and log injection (file name and Subject)
    put("BI-33.eml", mixed("BI-33", [TEXT,
        "Content-Type: application/octet-stream; "
        "name*=UTF-8''%25s%25s%25n%25x%0AJan%20%201%2000:00:00%20host%20mailcorral[1]:%20fake.exe\n"
        "Content-Transfer-Encoding: base64\n\n" + EXE_B64],
        extra_hdr="").replace("Subject: bad input BI-33", "Subject: %s%s%n%x"))

    # BI-35 hostile recipients: a GTUBE message (recipients come from the client)
    put("BI-35.eml", hdr("BI-35", mime=False) + "\n" + GTUBE + "\n")

    # BI-36 Message-ID / Date abuse, corralled spam
    put("BI-36a.eml", "From: a@example.org\nTo: b@example.com\nSubject: mid\n"
        "Message-ID: <../../../../etc/cron.d/x>\nDate: Tue, 31 Feb 1999 99:99:99 +9999\n\n"
        + GTUBE + "\n")
    put("BI-36b.eml", "From: a@example.org\nTo: b@example.com\nSubject: mid\n"
        "Message-ID: <" + "m" * 8192 + "@x>\n\n" + GTUBE + "\n")

    # BI-37 forged MailCorral / spam fields, plus a program to prove a full scan
    forged = ("X-MailCorral-Bypass: v=1; k=a; i=b; t=0; x=9999999999; h=00\n"
              "X-Spam-Status: No, score=-100\n"
              "X-MailCorral-Bypass: " + "B" * 8192 + "\n"
              "X-MailCorral-Archive: archived=yes\n"
              "X-Spam-Score: -100\n"
              "X-MailCorral-Bypass: v=1; third\n"
              "X-Spam-Flag: NO\n"
              "x-mailcorral-filtered: clean\n")
    put("BI-37.eml", mixed("BI-37", [TEXT, exe_part()], extra_hdr=forged))

    # BI-38 signed mail with a banned part: S/MIME and PGP/MIME
    for tag, proto, sigtype in (("BI-38a", "application/pkcs7-signature", "application/pkcs7-signature; name=smime.p7s"),
                                ("BI-38b", "application/pgp-signature", "application/pgp-signature")):
        inner = ('Content-Type: multipart/mixed; boundary="in"\n\n--in\n' + TEXT
                 + "--in\n" + exe_part() + "--in--\n")
        put(tag + ".eml", hdr(tag) +
            'Content-Type: multipart/signed; protocol="%s"; micalg=sha-256; boundary="sig"\n\n' % proto
            + "--sig\n" + inner + "--sig\nContent-Type: %s\nContent-Transfer-Encoding: base64\n\n"
            % sigtype + b64lines(b"not a real signature") + "--sig--\n")

    # control message
    put("control.eml", "From: ctl@example.org\nTo: ctl@example.com\nSubject: control\n"
        "Date: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <control@badinput.test>\n\n"
        "A small plain control message.\n")

    os.makedirs(out, exist_ok=True)
    for name, data in sorted(files.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    return sorted(files)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: gen_bad.py OUTDIR")
    for n in gen(sys.argv[1]):
        pass
