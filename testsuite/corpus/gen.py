#!/usr/bin/env python3
"""Generate the MailCorral email filter validation suite.

Writes testsuite/corpus/NNN-name.eml and NNN-name.expect (and the small
attachment_action = mangle set in testsuite/corpus/mangle/).  Deterministic:
running it twice gives identical files.  python3 stdlib only.

Every dangerous payload carries MCPAYLOAD-NNN inside its bytes; every benign
text carries MCKEEP-NNN.  The "programs" are fake: "MZ" + padding + the DOS
stub sentence + the marker, never real code.

.expect keys (one per line, "#" comments allowed):
  technique ID text        description (for the tables)
  expect delivered         exactly one delivered copy
  expect unchanged         body and headers as sent, no X-MailCorral-* header
  expect removed MARKER    MARKER in no reading of the delivered copy
  expect kept MARKER       MARKER in some decoded text part
  expect warning           a text part mentions MailCorral
  expect defanged          no active HTML left
  expect no-name REGEX     no part name/filename matches REGEX
  expect header NAME       header NAME present
  expect no-header NAME    header NAME absent
  expect rejected          SMTP 5xx at end of data
  expect mta-refused       sendmail itself refuses the message (421 4.5.0
                           bare LF/CR; the milter never sees it)
"""
import base64
import binascii
import gzip
import io
import os
import quopri  # noqa: F401
import re
import sys
import tarfile
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
DATE = "Mon, 02 Mar 2026 10:00:00 +0000"
ZDATE = (2026, 3, 2, 10, 0, 0)

OUT = []          # (subdir, nnn, slug, bytes, expect-lines)


# ---------------------------------------------------------------- payloads
def pe(n, extra=b""):
    """A fake Windows program: MZ header, DOS stub text, the marker."""
    return (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
            + b"\xb8" + b"\x00" * 47 + b"\x80\x00\x00\x00"
            + b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21"
            + b"This program cannot be run in DOS mode.\r\r\n$\x00"
            + b"\x00" * 32 + b" MCPAYLOAD-%03d " % n + extra
            + bytes(range(256)) + b"\x00" * 64)


def script(n, kind="vbs"):
    body = {
        "vbs": "' harmless test script\r\nMsgBox \"MCPAYLOAD-%03d\"\r\n",
        "js": "// harmless test script\r\nWScript.Echo(\"MCPAYLOAD-%03d\");\r\n",
        "bat": "@echo off\r\nrem harmless test script\r\necho MCPAYLOAD-%03d\r\n",
        "ps1": "# harmless test script\r\nWrite-Output 'MCPAYLOAD-%03d'\r\n",
        "hta": "<html><head><hta:application id=\"x\"/></head><body>MCPAYLOAD-%03d</body></html>\r\n",
    }[kind]
    return (body % n).encode()


def blob(n, magic=b""):
    """Opaque non-MZ bytes with the marker (disk images, documents, ...)."""
    return magic + b"\x00" * 16 + b"MCPAYLOAD-%03d" % n + bytes(range(256)) * 2


def b64(data):
    s = base64.b64encode(data).decode()
    return "\n".join(s[i:i + 76] for i in range(0, len(s), 76)) + "\n"


def mkzip(members, comment=b""):
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            zi = zipfile.ZipInfo(name, ZDATE)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            z.writestr(zi, data)
        z.comment = comment
    return bio.getvalue()


def mktar(members, gz=False):
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 1772445600
            ti.mode = 0o644
            ti.uname = ti.gname = "user"
            t.addfile(ti, io.BytesIO(data))
    raw = bio.getvalue()
    return mkgz(raw, None) if gz else raw


def mkgz(data, fname):
    bio = io.BytesIO()
    with gzip.GzipFile(filename=fname or "", mode="wb", fileobj=bio, mtime=0) as g:
        g.write(data)
    return bio.getvalue()


def zipcrypto_zip(name, data, password, comment):
    """A zip with one traditionally (PKWARE ZipCrypto) encrypted member."""
    crc_table = [0] * 256
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        crc_table[i] = c

    def crc32b(c, b):
        return (c >> 8) ^ crc_table[(c ^ b) & 0xFF]

    keys = [0x12345678, 0x23456789, 0x34567890]

    def update(b):
        keys[0] = crc32b(keys[0], b)
        keys[1] = (keys[1] + (keys[0] & 0xFF)) & 0xFFFFFFFF
        keys[1] = (keys[1] * 134775813 + 1) & 0xFFFFFFFF
        keys[2] = crc32b(keys[2], keys[1] >> 24)

    for ch in password:
        update(ch)
    crc = zlib.crc32(data) & 0xFFFFFFFF
    header = bytes(range(11)) + bytes([crc >> 24])
    out = bytearray()
    for b in header + data:
        t = (keys[2] | 2) & 0xFFFF
        k = ((t * (t ^ 1)) >> 8) & 0xFF
        out.append(b ^ k)
        update(b)
    import struct
    fn = name.encode()
    dt, dd = 0x5000, (2026 - 1980) << 9 | 3 << 5 | 2
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 1, 0, dt, dd, crc,
                        len(out), len(data), len(fn), 0) + fn + bytes(out)
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 1, 0, dt,
                          dd, crc, len(out), len(data), len(fn), 0, 0, 0, 0,
                          0o644 << 16, 0) + fn
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central),
                      len(local), len(comment)) + comment
    return local + central + end


def uuencode(data, name, mode="644"):
    out = ["begin %s %s" % (mode, name)]
    for i in range(0, len(data), 45):
        out.append(binascii.b2a_uu(data[i:i + 45]).decode().rstrip("\n"))
    out += ["`", "end"]
    return "\n".join(out) + "\n"


def binhex_block(n, name):
    """A BinHex 4.0 block (RLE skipped: no 0x90 bytes in the data)."""
    import struct

    def crc16(data):
        crc = 0
        for b in data:
            for i in range(8):
                bit = (b >> (7 - i)) & 1
                c = crc & 0x8000
                crc = ((crc << 1) | bit) & 0xFFFF
                if c:
                    crc ^= 0x1021
        for _ in range(16):
            c = crc & 0x8000
            crc = (crc << 1) & 0xFFFF
            if c:
                crc ^= 0x1021
        return crc
    data = pe(n).replace(b"\x90", b"\x91")
    fn = name.encode()
    hdr = bytes([len(fn)]) + fn + b"\x00" + b"APPL" + b"????" + b"\x00\x00" \
        + struct.pack(">II", len(data), 0)
    stream = hdr + struct.pack(">H", crc16(hdr)) + data \
        + struct.pack(">H", crc16(data)) + struct.pack(">H", 0)
    alpha = "!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr"
    bits = "".join("{:08b}".format(b) for b in stream)
    bits += "0" * (-len(bits) % 6)
    enc = ":" + "".join(alpha[int(bits[i:i + 6], 2)] for i in range(0, len(bits), 6)) + ":"
    lines = [enc[i:i + 64] for i in range(0, len(enc), 64)]
    return "(This file must be converted with BinHex 4.0)\n" + "\n".join(lines) + "\n"


def yenc_block(data, name):
    out = bytearray()
    line = bytearray()
    for b in data:
        o = (b + 42) % 256
        if o in (0, 10, 13, 61):
            line += b"=" + bytes([(o + 64) % 256])
        else:
            line.append(o)
        if len(line) >= 128:
            out += line + b"\n"
            line = bytearray()
    if line:
        out += line + b"\n"
    crc = zlib.crc32(data) & 0xFFFFFFFF
    return (b"=ybegin line=128 size=%d name=%s\n" % (len(data), name.encode())
            + bytes(out) + b"=yend size=%d crc32=%08x\n" % (len(data), crc))


def tnef(n, name):
    import struct

    def attr(level, aid, data):
        return (bytes([level]) + struct.pack("<II", aid, len(data)) + data
                + struct.pack("<H", sum(data) & 0xFFFF))
    out = struct.pack("<IH", 0x223E9F78, 0x0001)
    out += attr(1, 0x00089006, struct.pack("<I", 0x00010000))  # attTnefVersion
    out += attr(1, 0x00069007, b"1252\x00\x00\x00\x00")          # attOemCodepage
    out += attr(2, 0x00069002, struct.pack("<I", 1))             # attAttachRenddata
    out += attr(2, 0x00018010, name.encode() + b"\x00")          # attAttachTitle
    out += attr(2, 0x0006800F, pe(n))                            # attAttachData
    return out


# ---------------------------------------------------------------- messages
def headers(n, tid, title, extra="", mime=True):
    h = ("Date: %s\nFrom: Corpus Sender <sender@example.org>\n"
         "To: t%03d@mx.mailcorral.test\nSubject: %s %s\n"
         "Message-ID: <mc-%03d@corpus.mailcorral.test>\n" % (DATE, n, tid, title, n))
    if mime:
        h += "MIME-Version: 1.0\n"
    return h + extra


def keep(n, what="Please see the attached file."):
    return "Hello,\n\n%s\nThe benign marker of this message is MCKEEP-%03d.\n\nRegards,\nCorpus Sender\n" % (what, n)


def textpart(n, what="Please see the attached file."):
    return ("Content-Type: text/plain; charset=us-ascii\n"
            "Content-Transfer-Encoding: 7bit\n\n" + keep(n, what))


def attpart(ctype, name, data, cte="base64", fname=None, disp="attachment",
            rawhdr=None):
    fname = name if fname is None else fname
    if rawhdr is not None:
        h = rawhdr
    else:
        h = "Content-Type: %s" % ctype
        if name:
            h += '; name="%s"' % name
        h += "\nContent-Transfer-Encoding: %s\n" % cte
        if disp:
            h += "Content-Disposition: %s" % disp
            if fname:
                h += '; filename="%s"' % fname
            h += "\n"
    if cte.lower() == "base64":
        body = b64(data) if isinstance(data, bytes) else data
    else:
        body = data.decode("latin-1") if isinstance(data, bytes) else data
    return h + "\n" + body


def multipart(parts, boundary, sub="mixed", preamble="This is a multi-part message in MIME format.\n",
              epilogue=""):
    s = "Content-Type: multipart/%s; boundary=\"%s\"\n\n" % (sub, boundary)
    return s + mpbody(parts, boundary, preamble, epilogue)


def mpbody(parts, boundary, preamble="This is a multi-part message in MIME format.\n", epilogue=""):
    s = preamble
    for p in parts:
        s += "\n--%s\n%s" % (boundary, p if p.endswith("\n") else p + "\n")
    s += "\n--%s--\n" % boundary + epilogue
    return s


def add(n, slug, tid, title, text, expects, sub="", crlf=True):
    data = text.encode("latin-1") if isinstance(text, str) else text
    if crlf:
        data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    exp = ["technique %s %s" % (tid, title)] + ["expect " + e for e in expects]
    OUT.append((sub, n, slug, data, exp))


def bad(n):
    return ["delivered", "removed MCPAYLOAD-%03d" % n, "kept MCKEEP-%03d" % n,
            "warning", "header X-MailCorral-Filtered"]


def simple_att(n, slug, tid, title, ctype, name, data, cte="base64", fname=None,
               exp=None, rawhdr=None):
    msg = headers(n, tid, title) + multipart(
        [textpart(n), attpart(ctype, name, data, cte, fname, rawhdr=rawhdr)],
        "MCB-%03d-mixed" % n)
    add(n, slug, tid, title, msg, exp or bad(n))


# ---------------------------------------------------------------- A
def section_a():
    simple_att(1, "exe-attachment", "A01", ".exe attachment", "application/octet-stream", "invoice.exe", pe(1))
    # A02: name only in Content-Type
    n = 2
    simple_att(n, "scr-name-only", "A02", ".scr screen saver, name only in Content-Type", "application/octet-stream",
               None, pe(n), rawhdr='Content-Type: application/octet-stream; name="holiday.scr"\nContent-Transfer-Encoding: base64\n')
    simple_att(3, "pif", "A03", ".pif attachment", "application/octet-stream", "setup.pif", pe(3))
    simple_att(4, "com", "A04", ".com attachment (DOS program)", "application/octet-stream", "tool.com",
               b"\xb4\x09\xba\x0e\x01\xcd\x21\xb8\x00\x4c\xcd\x21MCPAYLOAD-004$" + b"\x00" * 40)
    simple_att(5, "bat-textplain", "A05", ".bat sent as text/plain 7bit", "text/plain; charset=us-ascii",
               "cleanup.bat", script(5, "bat"), cte="7bit")
    simple_att(6, "cmd", "A06", ".cmd script", "application/octet-stream", "update.cmd", script(6, "bat"))
    simple_att(7, "vbs", "A07", ".vbs VBScript", "application/octet-stream", "report.vbs", script(7, "vbs"))
    simple_att(8, "vbe", "A07", ".vbe encoded VBScript", "application/octet-stream", "report.vbe",
               b"#@~^GQAAAA==MCPAYLOAD-008 encoded script placeholder^#~@")
    simple_att(9, "js", "A08", ".js JScript", "application/javascript", "invoice.js", script(9, "js"))
    simple_att(10, "jse", "A09", ".jse encoded JScript", "application/octet-stream", "invoice.jse",
               b"#@~^GQAAAA==MCPAYLOAD-010 encoded jscript placeholder^#~@")
    simple_att(11, "wsf", "A10", ".wsf Windows Script File", "text/xml", "job.wsf",
               b'<job id="x"><script language="JScript">WScript.Echo("MCPAYLOAD-011");</script></job>\r\n')
    simple_att(12, "wsc", "A10", ".wsc Windows Script Component", "text/xml", "comp.wsc",
               b'<component><script language="JScript">var x="MCPAYLOAD-012";</script></component>\r\n')
    simple_att(13, "hta", "A11", ".hta HTML application", "application/hta", "viewer.hta", script(13, "hta"))
    simple_att(14, "lnk", "A12", ".lnk shell shortcut", "application/octet-stream", "document.lnk",
               b"L\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00F"
               + b"cmd.exe /c echo MCPAYLOAD-014" + b"\x00" * 20)
    simple_att(15, "cpl", "A13", ".cpl control-panel applet", "application/octet-stream", "settings.cpl", pe(15))
    simple_att(16, "msi", "A14", ".msi installer", "application/x-msi", "install.msi",
               blob(16, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"))
    simple_att(17, "mst", "A14", ".mst installer transform", "application/octet-stream", "patch.mst",
               blob(17, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"))
    simple_att(18, "iso", "A15", ".iso disk image", "application/x-iso9660-image", "invoice.iso",
               b"\x00" * 64 + b"\x01CD001\x01" + blob(18))
    simple_att(19, "img", "A16", ".img disk image", "application/octet-stream", "scan.img", blob(19))
    simple_att(20, "vhd", "A17", ".vhd virtual disk", "application/octet-stream", "disk.vhd", blob(20, b"conectix"))
    simple_att(21, "vhdx", "A17", ".vhdx virtual disk", "application/octet-stream", "disk.vhdx", blob(21, b"vhdxfile"))
    simple_att(22, "one", "A18", ".one OneNote notebook", "application/onenote", "notes.one",
               blob(22, b"\xe4\x52\x5c\x7b\x8c\xd8\xa7\x4d"))
    simple_att(23, "onepkg", "A18", ".onepkg OneNote package", "application/octet-stream", "notes.onepkg",
               blob(23, b"MSCF"))
    simple_att(24, "ps1", "A19", ".ps1 PowerShell script", "text/plain; charset=us-ascii", "run.ps1",
               script(24, "ps1"), cte="7bit")
    simple_att(25, "jar", "A20", ".jar Java archive", "application/java-archive", "app.jar",
               mkzip([("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\nMain-Class: A\r\n"),
                      ("A.class", b"\xca\xfe\xba\xbeMCPAYLOAD-025")]))
    simple_att(26, "jnlp", "A20", ".jnlp Java launcher", "application/x-java-jnlp-file", "launch.jnlp",
               b'<?xml version="1.0"?><jnlp codebase="http://example.invalid/"><!-- MCPAYLOAD-026 --></jnlp>\r\n')
    simple_att(27, "docm", "A21", ".docm macro-enabled Word document",
               "application/vnd.ms-word.document.macroEnabled.12", "contract.docm",
               mkzip([("[Content_Types].xml", b"<Types/>"), ("word/vbaProject.bin", blob(27, b"\xd0\xcf\x11\xe0"))]))
    simple_att(28, "xlsm", "A21", ".xlsm macro-enabled workbook",
               "application/vnd.ms-excel.sheet.macroEnabled.12", "figures.xlsm",
               mkzip([("[Content_Types].xml", b"<Types/>"), ("xl/vbaProject.bin", blob(28, b"\xd0\xcf\x11\xe0"))]))
    # A22 HTML smuggling: defanged (script neutralised) in place
    n = 29
    html = ("<html><body><p>Your document is loading. MCKEEP-029</p>\n"
            "<script>\nvar d = atob('TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAA==');\n"
            "var b = new Blob([d], {type: 'application/octet-stream'});\n"
            "var a = document.createElement('a'); a.href = URL.createObjectURL(b);\n"
            "a.download = 'invoice.exe'; a.click();\n</script>\n</body></html>\n")
    simple_att(n, "html-smuggling", "A22", "HTML smuggling .html attachment (Blob/atob)", "text/html; charset=us-ascii",
               "invoice.html", html.encode(), cte="7bit",
               exp=["delivered", "defanged", "kept MCKEEP-029", "header X-MailCorral-Filtered"])
    simple_att(30, "reg", "A23", ".reg registry file", "text/plain; charset=us-ascii", "fix.reg",
               b'Windows Registry Editor Version 5.00\r\n\r\n[HKEY_CURRENT_USER\\Software\\MC]\r\n"x"="MCPAYLOAD-030"\r\n', cte="7bit")
    simple_att(31, "url", "A23", ".url internet shortcut", "application/octet-stream", "portal.url",
               b"[InternetShortcut]\r\nURL=file://192.0.2.1/share/MCPAYLOAD-031.exe\r\n")
    simple_att(32, "chm", "A23", ".chm compiled help", "application/octet-stream", "help.chm", blob(32, b"ITSF"))
    simple_att(33, "settingcontent-ms", "A23", ".settingcontent-ms shortcut", "application/octet-stream",
               "fix.settingcontent-ms",
               b"<PCSettings><SearchableContent><DeepLink>cmd /c echo MCPAYLOAD-033</DeepLink></SearchableContent></PCSettings>\r\n")
    simple_att(34, "xll", "A23", ".xll Excel add-in", "application/octet-stream", "addin.xll", pe(34))
    # A24: executable MIME type, no name anywhere
    n = 35
    simple_att(n, "msdownload-noname", "A24", "application/x-msdownload without a name", "application/x-msdownload",
               None, blob(35, b"PK-not-mz"), rawhdr="Content-Type: application/x-msdownload\nContent-Transfer-Encoding: base64\n")
    simple_att(36, "exe-as-audio", "A25", "readme.exe declared audio/x-wav (MS01-020)", "audio/x-wav", "readme.exe", pe(36))
    simple_att(37, "jpg-msdownload-mz", "A26", "photo.jpg declared application/x-msdownload with MZ content",
               "application/x-msdownload", "photo.jpg", pe(37))
    n = 38
    svg = ('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="100" height="40" '
           'onload="alert(1)">\n<text x="5" y="20">Sign in MCKEEP-038</text>\n'
           '<script type="text/javascript">document.location="http://phish.example.invalid/";</script>\n</svg>\n')
    simple_att(n, "svg-script", "A27", "SVG attachment with script and onload", "image/svg+xml", "login.svg",
               svg.encode(), cte="7bit", exp=["delivered", "defanged", "kept MCKEEP-038", "header X-MailCorral-Filtered"])
    simple_att(134, "pdf-name-mz-content", "A26", "report.pdf declared application/pdf with MZ content",
               "application/pdf", "report.pdf", pe(134))
    # more A23 launchers
    simple_att(39, "library-ms", "A23", ".library-ms Windows library", "application/octet-stream", "docs.library-ms",
               b'<libraryDescription><searchConnectorDescription><simpleLocation><url>\\\\192.0.2.1\\MCPAYLOAD-039</url></simpleLocation></searchConnectorDescription></libraryDescription>\r\n')


# ---------------------------------------------------------------- B
def raw_att(n, slug, tid, title, hdr, data, cte="base64", exp=None):
    body = b64(data) if cte == "base64" else data.decode("latin-1")
    part = hdr + ("" if hdr.endswith("\n") else "\n") + "Content-Transfer-Encoding: %s\n\n" % cte + body
    msg = headers(n, tid, title) + multipart([textpart(n), part], "MCB-%03d-mixed" % n)
    add(n, slug, tid, title, msg, exp or bad(n))


def section_b():
    raw_att(40, "double-ext", "B01", "double extension invoice.pdf.exe",
            'Content-Type: application/pdf; name="invoice.pdf.exe"\nContent-Disposition: attachment; filename="invoice.pdf.exe"', pe(40))
    sp = " " * 60
    raw_att(41, "double-ext-spaces", "B02", "double extension padded with 60 spaces",
            'Content-Type: application/pdf; name="invoice.pdf%s.js"\nContent-Disposition: attachment; filename="invoice.pdf%s.js"' % (sp, sp),
            script(41, "js"))
    raw_att(42, "trailing-dot", "B03", "trailing dot invoice.js.",
            'Content-Type: application/octet-stream; name="invoice.js."\nContent-Disposition: attachment; filename="invoice.js."', script(42, "js"))
    raw_att(43, "trailing-spaces", "B04", "trailing spaces 'invoice.js   '",
            'Content-Type: application/octet-stream; name="invoice.js   "\nContent-Disposition: attachment; filename="invoice.js   "', script(43, "js"))
    raw_att(44, "rlo", "B05", "Unicode RLO invoice<RLO>fdp.js (RFC 2231)",
            "Content-Type: application/octet-stream; name*=utf-8''invoice%E2%80%AEfdp.js\n"
            "Content-Disposition: attachment; filename*=utf-8''invoice%E2%80%AEfdp.js", script(44, "js"))
    raw_att(45, "clsid", "B06", "CLSID extension readme.txt.{3050F4D8-...}",
            'Content-Type: application/octet-stream; name="readme.txt.{3050F4D8-98B5-11CF-BB82-00AA00BDCE0B}"\n'
            'Content-Disposition: attachment; filename="readme.txt.{3050F4D8-98B5-11CF-BB82-00AA00BDCE0B}"', script(45, "hta"))
    raw_att(46, "rfc2231-charset", "B07", "RFC 2231 continuation with charset (invoice.js)",
            "Content-Type: application/octet-stream\n"
            "Content-Disposition: attachment;\n filename*0*=utf-8''inv;\n filename*1*=oice%2E;\n filename*2*=%6As", script(46, "js"))
    raw_att(47, "rfc2231-out-of-order", "B08", "RFC 2231 plain continuations out of order (invoice.js)",
            "Content-Type: application/octet-stream;\n name*1=\"ice.\";\n name*0=\"invo\";\n name*2=\"js\"\n"
            "Content-Disposition: attachment;\n filename*2=\"js\";\n filename*0=\"invo\";\n filename*1=\"ice.\"", script(47, "js"))
    raw_att(48, "rfc2047-filename", "B09", "RFC 2047 encoded-word filename (invoice.js)",
            'Content-Type: application/octet-stream; name="=?utf-8?B?aW52b2ljZS5qcw==?="\n'
            'Content-Disposition: attachment; filename="=?utf-8?B?aW52b2ljZS5qcw==?="', script(48, "js"))
    raw_att(49, "rfc2047-split", "B10", "name split over adjacent encoded-words (invoice.js)",
            'Content-Type: application/octet-stream; name="=?utf-8?Q?invoice?= =?utf-8?Q?=2Ejs?="\n'
            'Content-Disposition: attachment; filename="=?utf-8?Q?invoice?= =?utf-8?Q?=2Ejs?="', script(49, "js"))
    raw_att(50, "rfc2047-whole-disposition", "B11", "whole Content-Disposition value RFC 2047-encoded (x.js)",
            "Content-Type: application/octet-stream\n"
            "Content-Disposition: =?utf-8?q?attachment=3b_filename=3d=22x=2ejs=22?=", script(50, "js"))
    raw_att(51, "name-vs-filename", "B12", "name=report.pdf vs filename=report.js",
            'Content-Type: application/pdf; name="report.pdf"\nContent-Disposition: attachment; filename="report.js"', script(51, "js"))
    raw_att(52, "filename-vs-name", "B12", "name=report.js vs filename=report.pdf",
            'Content-Type: application/pdf; name="report.js"\nContent-Disposition: attachment; filename="report.pdf"', script(52, "js"))
    raw_att(53, "duplicate-filename", "B13", "duplicate filename parameters notes.txt / setup.js",
            'Content-Type: application/octet-stream\nContent-Disposition: attachment; filename="notes.txt"; filename="setup.js"', script(53, "js"))
    raw_att(54, "unquoted-space", "B14", "unquoted filename with a space (bad boy.js)",
            'Content-Type: application/octet-stream; name=bad boy.js\nContent-Disposition: attachment; filename=bad boy.js', script(54, "js"))
    raw_att(55, "unterminated-quote", "B15", "unterminated quote filename=\"invoice.js",
            'Content-Type: application/octet-stream; name="invoice.js\nContent-Disposition: attachment; filename="invoice.js', script(55, "js"))
    raw_att(56, "mixed-case", "B16", "mixed-case extension INVOICE.Js",
            'Content-Type: application/octet-stream; name="INVOICE.Js"\nContent-Disposition: attachment; filename="INVOICE.Js"', script(56, "js"))
    raw_att(57, "path-traversal", "B17", "path in the name ..\\..\\Users\\Public\\invoice.js",
            'Content-Type: application/octet-stream; name="..\\\\..\\\\Users\\\\Public\\\\invoice.js"\n'
            'Content-Disposition: attachment; filename="../../Users/Public/invoice.js"', script(57, "js"))
    raw_att(58, "raw-8bit-name", "B18", "raw 8-bit UTF-8 bytes in the filename (Rechnung_März.js)",
            'Content-Type: application/octet-stream; name="Rechnung_M\xc3\xa4rz.js"\n'
            'Content-Disposition: attachment; filename="Rechnung_M\xc3\xa4rz.js"', script(58, "js"))
    raw_att(59, "middle-extension", "B19", "triple extension photo.jpg.exe.jpg (non-MZ content)",
            'Content-Type: image/jpeg; name="photo.jpg.exe.jpg"\nContent-Disposition: attachment; filename="photo.jpg.exe.jpg"',
            b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + blob(59))
    raw_att(60, "inner-exe-txt", "B19", "dangerous inner extension setup.exe.txt",
            'Content-Type: text/plain; charset=us-ascii; name="setup.exe.txt"\nContent-Disposition: attachment; filename="setup.exe.txt"',
            b"plain text pretending MCPAYLOAD-060\r\n", cte="7bit")
    u16 = base64.b64encode("invoice.js".encode("utf-16le")).decode()
    raw_att(61, "utf16-name", "B20", "UTF-16LE encoded-word name (invoice.js)",
            'Content-Type: application/octet-stream; name="=?utf-16le?B?%s?="\n'
            'Content-Disposition: attachment; filename="=?utf-16le?B?%s?="' % (u16, u16), script(61, "js"))
    raw_att(62, "zero-width-ext", "B21", "zero-width space inside the extension invoice.j<ZWSP>s",
            "Content-Type: application/octet-stream; name*=utf-8''invoice.j%E2%80%8Bs\n"
            "Content-Disposition: attachment; filename*=utf-8''invoice.j%E2%80%8Bs", script(62, "js"))
    raw_att(63, "bidi-lro-pdf", "B05", "bidi isolate chars around the extension (invoice<LRI>.js<PDI>)",
            "Content-Type: application/octet-stream\n"
            "Content-Disposition: attachment; filename*=utf-8''invoice%E2%81%A6.js%E2%81%A9", script(63, "js"))


# ---------------------------------------------------------------- C
def exe_part(n, name="invoice.exe"):
    return ('Content-Type: application/octet-stream; name="%s"\nContent-Transfer-Encoding: base64\n'
            'Content-Disposition: attachment; filename="%s"\n\n' % (name, name)) + b64(pe(n))


def amb(n):
    return ["delivered", "removed MCPAYLOAD-%03d" % n]


def section_c():
    n = 64
    add(n, "missing-close-boundary", "C01", "missing closing boundary",
        headers(n, "C01", "missing closing boundary") + 'Content-Type: multipart/mixed; boundary="MCB-064"\n\n'
        "preamble\n\n--MCB-064\n" + textpart(n) + "\n--MCB-064\n" + exe_part(n), bad(n))
    n = 65
    add(n, "duplicate-boundary", "C02", "duplicate boundary= parameters (CVE-2024-28054)",
        headers(n, "C02", "duplicate boundary= parameters") +
        'Content-Type: multipart/mixed; boundary="MCB-065-first"; boundary="MCB-065-last"\n\n'
        "--MCB-065-first\n" + textpart(n) + "\n--MCB-065-last\n" + textpart(n, "second reading") +
        "\n--MCB-065-first\n" + exe_part(n) + "\n--MCB-065-last\n" + exe_part(n) +
        "\n--MCB-065-last--\n\n--MCB-065-first--\n", amb(n))
    n = 66
    add(n, "duplicate-content-type", "C03", "duplicate Content-Type headers (text/plain then multipart)",
        headers(n, "C03", "duplicate Content-Type headers") + "Content-Type: text/plain\n" +
        multipart([textpart(n), exe_part(n)], "MCB-066"), amb(n))
    n = 67
    add(n, "conflicting-cte", "C04", "conflicting Content-Transfer-Encoding headers (base64 and quoted-printable)",
        headers(n, "C04", "conflicting CTE") + multipart([textpart(n),
            'Content-Type: application/octet-stream; name="invoice.exe"\nContent-Transfer-Encoding: quoted-printable\n'
            'Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename="invoice.exe"\n\n' + b64(pe(n))],
            "MCB-067"), amb(n))
    n = 68
    add(n, "boundary-space-gap", "C05", "boundary containing spaces (boundary space gap)",
        headers(n, "C05", "boundary containing spaces") + 'Content-Type: multipart/mixed; boundary="MC gap 068 x"\n\n' +
        mpbody([textpart(n), exe_part(n)], "MC gap 068 x"), bad(n))
    n = 69
    body = mpbody([textpart(n), exe_part(n)], "MCB-069").replace("--MCB-069\n", "--MCB-069 \t\n")
    add(n, "transport-padding", "C06", "transport padding after the delimiters",
        headers(n, "C06", "transport padding after delimiters") + 'Content-Type: multipart/mixed; boundary="MCB-069"\n\n' + body, bad(n))
    n = 70
    add(n, "rfc2231-boundary", "C07", "RFC 2231 boundary continuation",
        headers(n, "C07", "RFC 2231 boundary continuation") + 'Content-Type: multipart/mixed;\n boundary*0="MC2231-";\n boundary*1="070-xyz"\n\n' +
        mpbody([textpart(n), exe_part(n)], "MC2231-070-xyz"), bad(n))
    n = 71
    add(n, "comment-in-content-type", "C08", "RFC 822 comment inside Content-Type",
        headers(n, "C08", "comment inside Content-Type") + 'Content-Type: multipart/mixed (boundary="MCB-071-DECOY"); boundary="MCB-071-REAL"\n\n' +
        mpbody([textpart(n), exe_part(n)], "MCB-071-REAL"), amb(n))
    n = 72
    add(n, "preamble-segment", "C09", "MIME segment in the preamble (near-miss delimiter)",
        headers(n, "C09", "MIME segment in the preamble") + 'Content-Type: multipart/mixed; boundary="MCB-072"\n\n'
        "--MCB-072_\n" + exe_part(n) + "\n" + mpbody([textpart(n)], "MCB-072", preamble=""), amb(n))
    n = 73
    add(n, "epilogue-payload", "C10", "payload in the epilogue",
        headers(n, "C10", "payload in the epilogue") + multipart([textpart(n)], "MCB-073",
            epilogue="\n--MCB-073\n" + exe_part(n)), amb(n))
    n = 74
    add(n, "missing-mime-version", "C11", "multipart without MIME-Version",
        headers(n, "C11", "missing MIME-Version", mime=False) + multipart([textpart(n), exe_part(n)], "MCB-074"), bad(n))
    n = 75
    add(n, "space-before-colon", "C12", "whitespace before the header colon (Content-Type : ...)",
        headers(n, "C12", "whitespace before header colon") +
        ('Content-Type : multipart/mixed; boundary="MCB-075"\n\n' + mpbody([textpart(n), exe_part(n)], "MCB-075")), amb(n))
    n = 76
    add(n, "blank-folding", "C13", "whitespace-only line in the header block (blank folding)",
        headers(n, "C13", "blank folding") + "X-Padding: a\n \n" +
        multipart([textpart(n), exe_part(n)], "MCB-076"), amb(n))
    n = 77
    inner = exe_part(n)
    for d in range(60, 0, -1):
        b = "MCB-077-L%02d" % d
        inner = 'Content-Type: multipart/mixed; boundary="%s"\n\n' % b + mpbody([inner], b, preamble="")
    add(n, "deep-multipart", "C14", "payload under 60 nested multiparts",
        headers(n, "C14", "deep multipart nesting (60)") + multipart([textpart(n), inner], "MCB-077-top"), bad(n))
    n = 78
    inner = headers(n, "C15", "inner") + multipart([textpart(n, "inner"), exe_part(n)], "MCB-078-in5")
    for d in range(4, 0, -1):
        inner = headers(n, "C15", "fwd %d" % d) + multipart(
            ["Content-Type: text/plain\n\nforwarded level %d\n" % d,
             "Content-Type: message/rfc822\nContent-Disposition: inline\n\n" + inner], "MCB-078-L%d" % d)
    add(n, "nested-rfc822", "C15", "executable four forwarded messages deep",
        headers(n, "C15", "nested message/rfc822") + multipart(
            [textpart(n), "Content-Type: message/rfc822\n\n" + inner], "MCB-078-top"), bad(n))
    n = 79
    add(n, "odd-folding", "C16", "Content-Type folded between boundary, = and the value",
        headers(n, "C16", "odd header folding") + 'Content-Type: multipart/mixed;\n boundary\n =\n "MCB-079"\n\n' +
        mpbody([textpart(n), exe_part(n)], "MCB-079"), bad(n))
    n = 80
    inner = 'Content-Type: multipart/mixed; boundary="MCB-080-in"\n\n' + mpbody([exe_part(n)], "MCB-080-in", preamble="")
    add(n, "boundary-prefix", "C17", "inner boundary with the outer boundary as a prefix",
        headers(n, "C17", "boundary that is a prefix of another") + 'Content-Type: multipart/mixed; boundary="MCB-080"\n\n' +
        mpbody([textpart(n), inner], "MCB-080"), bad(n))
    n = 81
    add(n, "comment-in-header-name", "C18", "comment in a header name Content-Type(x):",
        headers(n, "C18", "comment in a header name") +
        'Content-Type(x): multipart/mixed; boundary="MCB-081"\n\n' + mpbody([textpart(n), exe_part(n)], "MCB-081"), amb(n))
    n = 82
    add(n, "boundary-in-disposition", "C19", "decoy boundary= in Content-Disposition",
        headers(n, "C19", "boundary= in Content-Disposition") +
        'Content-Disposition: inline; boundary="MCB-082-DECOY"\nContent-Type: multipart/mixed; boundary="MCB-082"\n\n' +
        mpbody([textpart(n), exe_part(n)], "MCB-082"), bad(n))
    n = 83
    add(n, "quoted-pair-boundary", "C20", "quoted-pair escaped quote in the boundary",
        headers(n, "C20", "quoted-pair in the boundary") + 'Content-Type: multipart/mixed; boundary="MCB-083\\"q"\n\n' +
        mpbody([textpart(n), exe_part(n)], 'MCB-083"q'), amb(n))
    n = 84
    add(n, "multipart-no-boundary", "C21", "multipart without any boundary=",
        headers(n, "C21", "multipart without boundary") + "Content-Type: multipart/mixed\n\n" + keep(n),
        ["delivered"])
    n = 85
    add(n, "empty-headerless-parts", "C22", "empty part, headerless part, zero-length base64",
        headers(n, "C22", "empty or headerless parts") + multipart(
            ["", "\n" + keep(n), "Content-Type: application/octet-stream; name=\"empty.bin\"\nContent-Transfer-Encoding: base64\n\n"],
            "MCB-085"), ["delivered", "kept MCKEEP-085"])
    n = 86
    frag = headers(n, "C23", "inner") + 'Content-Type: application/octet-stream; name="invoice.exe"\nContent-Transfer-Encoding: base64\n\n' + b64(pe(n))
    frag = frag[:len(frag) * 4 // 5]
    add(n, "message-partial", "C23", "message/partial fragment (CAN-2002-1121)",
        headers(n, "C23", "message/partial fragmentation") + multipart(
            [textpart(n), 'Content-Type: message/partial; id="mc086@corpus"; number=1; total=2\n\n' + frag], "MCB-086"), bad(n))
    n = 87
    add(n, "external-body", "C24", "message/external-body",
        headers(n, "C24", "message/external-body") + multipart(
            [textpart(n), 'Content-Type: message/external-body; access-type=URL;\n URL="http://example.invalid/MCPAYLOAD-087/invoice.exe"\n\n'
             'Content-Type: application/octet-stream; name="invoice.exe"\nContent-Transfer-Encoding: binary\nX-Ref: MCPAYLOAD-087\n\n'],
            "MCB-087"), bad(n))
    n = 88
    add(n, "delimiter-after-headers", "C25", "delimiter directly after the headers (no blank line)",
        headers(n, "C25", "delimiter not preceded by CRLF") + 'Content-Type: multipart/mixed; boundary="MCB-088"\n'
        + mpbody([textpart(n), exe_part(n)], "MCB-088", preamble="")[1:], amb(n))


# ---------------------------------------------------------------- D
def section_d():
    def one(n, slug, tid, title, parthdr, body, exp=None):
        msg = headers(n, tid, title) + multipart([textpart(n), parthdr + "\n" + body], "MCB-%03d" % n)
        add(n, slug, tid, title, msg, exp or bad(n))
    ex = 'Content-Type: application/octet-stream; name="invoice.exe"\nContent-Disposition: attachment; filename="invoice.exe"\n'
    one(89, "cte-mixed-case", "D01", "mixed-case CTE bAsE64", ex + "Content-Transfer-Encoding: bAsE64\n", b64(pe(89)))
    one(90, "cte-comment", "D02", "CTE with a comment: base64 (binary)", ex + "Content-Transfer-Encoding: base64 (binary)\n", b64(pe(90)))
    junk = b64(pe(91)).replace("A", "A*").replace("Q", "Q!")
    one(91, "base64-junk", "D03", "base64 with junk characters", ex + "Content-Transfer-Encoding: base64\n", junk)
    d = pe(92)
    chunks = "".join(base64.b64encode(d[i:i + 20]).decode() + "\n" for i in range(0, len(d), 20))
    one(92, "base64-padding-middle", "D04", "base64 padding in the middle (separately padded chunks)",
        'Content-Type: application/octet-stream; name="tool.js"\nContent-Disposition: attachment; filename="tool.js"\n'
        "Content-Transfer-Encoding: base64\n", chunks)
    q = binascii.b2a_qp(pe(93), quotetabs=True, istext=False).decode().replace("=\r\n", "").replace("=\n", "")
    toks = re.findall(r"=[0-9A-F]{2}|.", q)
    q = "".join("".join(toks[i:i + 4]) + "=\n" for i in range(0, len(toks), 4))
    one(93, "qp-soft-breaks", "D05", "quoted-printable with soft breaks everywhere",
        ex + "Content-Transfer-Encoding: quoted-printable\n", q)
    one(94, "7bit-but-base64", "D06", "CTE says 7bit but the body is base64 (MZ inside)",
        'Content-Type: application/octet-stream\nContent-Transfer-Encoding: 7bit\n', b64(pe(94)))
    n = 95
    add(n, "uuencode-in-text", "D07", "uuencoded invoice.exe inside a text/plain body",
        headers(n, "D07", "uuencode inside a text body") + "Content-Type: text/plain; charset=us-ascii\n\n" +
        keep(n, "The file is below.") + "\n" + uuencode(pe(n), "invoice.exe") + "\nBye MCKEEP-095\n",
        ["delivered", "removed MCPAYLOAD-095", "kept MCKEEP-095", "warning"])
    one(96, "x-uuencode", "D08", "Content-Transfer-Encoding: x-uuencode part",
        ex + "Content-Transfer-Encoding: x-uuencode\n", uuencode(pe(96), "invoice.exe"))
    one(97, "binhex", "D09", "BinHex 4.0 part (name inside the encoding)",
        'Content-Type: application/mac-binhex40; name="invoice.hqx"\nContent-Disposition: attachment; filename="invoice.hqx"\n',
        binhex_block(97, "invoice.exe"))
    n = 98
    add(n, "yenc-in-text", "D10", "yEnc block in a text body (unscannable)",
        headers(n, "D10", "yEnc") + "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n" +
        keep(n, "yEnc data follows.") + yenc_block(pe(n), "invoice.exe").decode("latin-1"),
        ["delivered", "removed MCPAYLOAD-098", "warning"])
    one(99, "tnef", "D11", "TNEF winmail.dat carrying invoice.exe",
        'Content-Type: application/ms-tnef; name="winmail.dat"\nContent-Disposition: attachment; filename="winmail.dat"\n'
        "Content-Transfer-Encoding: base64\n", b64(tnef(99, "invoice.exe")))
    one(100, "gzip-inner-exe", "D12", "statement.gz whose gzip header names statement.exe",
        'Content-Type: application/gzip; name="statement.gz"\nContent-Disposition: attachment; filename="statement.gz"\n'
        "Content-Transfer-Encoding: base64\n", b64(mkgz(pe(100), "statement.exe")))
    one(101, "x-gzip64", "D13", "unknown transfer encoding x-gzip64",
        'Content-Type: application/octet-stream; name="data.bin"\nContent-Disposition: attachment; filename="data.bin"\n'
        "Content-Transfer-Encoding: x-gzip64\n", b64(mkgz(pe(101) , None)))
    n = 102
    add(n, "exotic-charsets", "D14", "utf-7 and UTF-16 text parts, unknown charset",
        headers(n, "D14", "exotic charsets") + multipart([
            "Content-Type: text/plain; charset=utf-7\n\n" + keep(n).replace(",", "+ACw-") ,
            "Content-Type: text/plain; charset=utf-16le\nContent-Transfer-Encoding: base64\n\n" + b64("caf\u00e9 text\n".encode("utf-16le")),
            "Content-Type: text/plain; charset=x-unknown-mc\n\nunknown charset text\n"], "MCB-102"),
        ["delivered", "kept MCKEEP-102"])


# ---------------------------------------------------------------- E
def section_e():
    def z(n, slug, tid, title, zname, data, ctype="application/zip", exp=None):
        raw_att(n, slug, tid, title,
                'Content-Type: %s; name="%s"\nContent-Disposition: attachment; filename="%s"' % (ctype, zname, zname),
                data, exp=exp)
    z(103, "zip-exe", "E01", "zip containing an executable (invoice.zip -> invoice.exe)", "invoice.zip",
      mkzip([("invoice.exe", pe(103))]))
    z(104, "zip-double-ext", "E02", "double extension inside a zip (scan.pdf.scr)", "scan.zip",
      mkzip([("readme.txt", b"see scan\r\n"), ("scan.pdf.scr", pe(104))]))
    z(105, "zip-in-zip", "E03", "nested archives: zip in zip in zip", "archive.zip",
      mkzip([("level2.zip", mkzip([("level3.zip", mkzip([("payload.js", script(105, "js"))]))]))]))
    z(106, "zip-encrypted", "E04", "password-protected zip (password in the body)", "secure.zip",
      zipcrypto_zip("invoice.pdf", b"%PDF-1.4 fake MCPAYLOAD-106\n", b"mc2026", b"MCPAYLOAD-106"))
    inner = (headers(107, "E05", "inner", mime=True) + multipart(
        [textpart(107, "inner"), exe_part(107)], "MCB-107-in")).replace("\n", "\r\n").encode()
    z(107, "zip-eml", "E05", ".eml inside a zip carrying invoice.exe", "saved-mail.zip",
      mkzip([("saved.eml", inner)]))
    z(108, "zip-mz-readme", "E06", "program inside a zip under an innocent name (readme.txt with MZ content)",
      "docs.zip", mkzip([("readme.txt", pe(108))]))
    decoy = mkzip([("photo.jpg", b"\xff\xd8\xff\xe0decoy image\xff\xd9")])
    z(109, "zip-concatenated", "E07", "two concatenated zips (decoy + payload, two EOCDs)", "photos.zip",
      decoy + mkzip([("photo.exe", pe(109))]))
    n = 110
    z(n, "zip-bomb", "E08", "high-ratio zip (8 MB of zeros) next to the text", "zeros.zip",
      mkzip([("zeros.txt", b"\x00" * (8 * 1024 * 1024))]), exp=["delivered", "kept MCKEEP-110"])
    z(111, "tar-exe", "E09", "tar containing an executable", "bundle.tar",
      mktar([("bundle/readme.txt", b"hello\n"), ("bundle/setup.exe", pe(111))]), ctype="application/x-tar")
    z(112, "tgz-js", "E09", "tar.gz containing a script", "bundle.tar.gz",
      mktar([("bundle/run.js", script(112, "js"))], gz=True), ctype="application/gzip")
    z(113, "split-zip", "E10", "split archive volume invoice.zip.001", "invoice.zip.001",
      mkzip([("invoice.exe", pe(113))])[:200], ctype="application/octet-stream")
    z(114, "zip-many-members", "E01", "zip with 20 harmless members and one .js at the end", "set.zip",
      mkzip([("file%02d.txt" % i, b"text %d\n" % i) for i in range(20)] + [("zz/run.js", script(114, "js"))]))


# ---------------------------------------------------------------- G
def section_g():
    def h(n, slug, tid, title, html, exp=None):
        msg = headers(n, tid, title) + multipart([
            "Content-Type: text/plain; charset=us-ascii\n\n" + keep(n, "HTML version attached."),
            "Content-Type: text/html; charset=us-ascii\n\n<html><body>\n<p>Newsletter MCKEEP-%03d</p>\n%s\n</body></html>\n" % (n, html)],
            "MCB-%03d" % n, sub="alternative")
        add(n, slug, tid, title, msg, exp or ["delivered", "defanged", "kept MCKEEP-%03d" % n])
    h(115, "html-script", "G01", "<script> in the HTML body", "<script>document.write('x');</script>")
    h(116, "html-iframe", "G02", "hidden zero-size <iframe>",
      '<iframe src="http://example.invalid/x" width="0" height="0" style="display:none"></iframe>')
    h(117, "html-data-uri", "G03", "data:text/html URI in an iframe and a link",
      '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">open</a>\n'
      '<iframe src="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="></iframe>')
    h(118, "html-onerror-javascript", "G04", "onerror= handler and javascript: URL",
      '<img src="x.png" onerror="alert(1)">\n<a href="javascript:alert(2)">click</a>')
    h(119, "html-object-embed", "G05", "<object codebase=> and <embed>",
      '<object classid="clsid:D27CDB6E-AE6D-11cf-96B8-444553540000" codebase="http://example.invalid/x.cab"></object>\n'
      '<embed src="http://example.invalid/x.swf">')
    h(120, "html-form", "G06", "<form> credential phishing (policy: delivered)",
      '<form action="http://phish.example.invalid/login" method="post"><input name="password" type="password"></form>',
      exp=["delivered", "kept MCKEEP-120"])
    h(121, "html-file-link", "G07", "file:// MonikerLink (outside attachment filtering)",
      '<a href="file:///\\\\192.0.2.1\\share\\doc.rtf!something">document</a>',
      exp=["delivered", "kept MCKEEP-121"])
    h(122, "html-meta-refresh", "G03", "meta refresh to a javascript: URL",
      '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">')
    h(123, "html-onload-mixedcase", "G04", "mixed-case OnLoAd handler on <body>-like tag",
      '<div OnMouseOver = "alert(1)">hover</div>')


# ---------------------------------------------------------------- H
def section_h():
    n = 124
    add(n, "nul-bytes", "H01", "NUL bytes in header and body",
        headers(n, "H01", "NUL bytes") + "X-Nul: a\x00b\nContent-Type: text/plain; charset=us-ascii\n\n" +
        keep(n) + "nul here:\x00:end\n", ["delivered", "kept MCKEEP-124"])
    n = 125
    add(n, "long-line", "H02", "300 000-character body line",
        headers(n, "H02", "very long line") + "Content-Type: text/plain; charset=us-ascii\n\n" +
        keep(n) + "x" * 300000 + "\nafter the long line\n", ["delivered", "kept MCKEEP-125"])
    n = 126
    add(n, "long-header", "H03", "64 KB unfolded header",
        headers(n, "H03", "very long header") + "X-Long: " + "y" * 64000 + "\n" +
        "Content-Type: text/plain; charset=us-ascii\n\n" + keep(n), ["delivered", "kept MCKEEP-126"])
    n = 127
    # The Content-Type comes after mime_max_headers (1000) fields: it is
    # not read, so the body fails closed (BI-11) and a warning replaces it.
    add(n, "many-headers", "H04", "5000 header fields, Content-Type after them (body unscannable)",
        headers(n, "H04", "5000 headers") + "".join("X-Many-%04d: value %d\n" % (i, i) for i in range(5000)) +
        "Content-Type: text/plain; charset=us-ascii\n\n" + keep(n),
        ["delivered", "warning", "removed MCKEEP-127", "header X-MailCorral-Filtered"])
    n = 128
    add(n, "8bit-headers", "H05", "raw 8-bit UTF-8 and Latin-1 bytes in Subject and From",
        "Date: %s\nFrom: J\xc3\xbcrgen M\xfcller <sender@example.org>\nTo: t128@mx.mailcorral.test\n"
        "Subject: H05 raw 8-bit headers \xc3\xa4\xc3\xb6\xc3\xbc \xe4\xf6\xfc\nMessage-ID: <mc-128@corpus.mailcorral.test>\n"
        "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" % DATE + keep(n),
        ["delivered", "kept MCKEEP-128"])
    n = 129
    msg = (headers(n, "H06", "mixed bare CR and bare LF").replace("\n", "\r\n") +
           "Content-Type: text/plain; charset=us-ascii\r\n\r\n" + keep(n).replace("\n", "\r\n") +
           "bare LF here\nbare CR here\rmixed end\r\n").encode()
    add(n, "bare-cr-lf", "H06", "mixed CRLF, bare CR and bare LF line ends", msg,
        ["mta-refused"], crlf=False)
    n = 130
    add(n, "bad-encoded-words", "H07", "malformed encoded-words (bad base64, unknown charset, unterminated)",
        headers(n, "H07", "malformed encoded words").replace("Subject: H07", "Subject: =?utf-8?B?!!!notbase64?= =?x-unknown?Q?abc?= =?utf-8?Q?unterminated H07") +
        'Content-Type: multipart/mixed; boundary="MCB-130"\n\n' + mpbody([
            textpart(n), 'Content-Type: text/plain; name="=?utf-8?B?####?="\nContent-Disposition: attachment; filename="=?bogus?X?abc?="\n\nnote\n'],
            "MCB-130"), ["delivered", "kept MCKEEP-130"])
    n = 131
    h = headers(n, "H08", "headers only, no body").rstrip("\n")
    add(n, "headers-only", "H08", "headers only, no blank line and no body", h + "\n", ["delivered"])
    n = 132
    parts = [textpart(n)] + ["Content-Type: text/plain\n\npart %d\n" % i for i in range(2998)] + [exe_part(n, "last.exe")]
    add(n, "3000-parts", "H09", "3000 MIME parts (the tail beyond the part limit is removed)",
        headers(n, "H09", "thousands of parts") + multipart(parts, "MCB-132"),
        ["delivered", "kept MCKEEP-132", "warning", "removed MCPAYLOAD-132"])
    n = 133
    inner = headers(n, "H10", "innermost") + multipart([textpart(n, "innermost"), exe_part(n)], "MCB-133-in")
    for d in range(200, 0, -1):
        inner = headers(n, "H10", "level %d" % d, extra="Content-Type: message/rfc822\n") + "\n" + inner
    add(n, "200-nested-rfc822", "H10", "200 nested message/rfc822 levels (beyond the limit removed)",
        headers(n, "H10", "deep message/rfc822 nesting") + multipart(
            [textpart(n, "outer"), "Content-Type: message/rfc822\n\n" + inner], "MCB-133-top"),
        ["delivered", "warning", "removed MCPAYLOAD-133"])


# ---------------------------------------------------------------- L: limits
def section_l():
    """Each MIME parser limit overflowed in front of a name or an encoding:
    the part fails closed (BI-11, MailCorral issue 14).  The payloads are
    ones only a name or a decoded MZ gives away."""
    def lim(n, slug, tid, title, hdr, data, cte="base64"):
        body = b64(data) if cte == "base64" else data.decode("latin-1")
        part = hdr + ("" if hdr.endswith("\n") else "\n") + "\n" + body
        msg = headers(n, tid, title) + multipart([textpart(n), part], "MCB-%03d-mixed" % n)
        add(n, slug, tid, title, msg, bad(n))
    bat = script
    od = "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; "
    n = 150
    lim(n, "64-params-before-name", "L01", "64 junk parameters before filename=",
        od + "; ".join("x%d=1" % i for i in range(64)) +
        '; filename="evil.bat"\n', bat(n, "bat"))
    n = 151
    lim(n, "8-names-then-filename", "L02", "8 distinct name= in Content-Type, the real name in Content-Disposition",
        "Content-Type: application/octet-stream; " + "; ".join('name="doc%d.txt"' % i for i in range(8)) +
        '\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename="evil.bat"\n', bat(n, "bat"))
    n = 152
    lim(n, "20-names-then-filename", "L03", "20 distinct name= (past mime_max_names) before filename=",
        "Content-Type: application/octet-stream; " + "; ".join('name="doc%d.txt"' % i for i in range(20)) +
        '\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename="evil.bat"\n', bat(n, "bat"))
    n = 153
    lim(n, "1000-fields-before-disposition", "L04", "1000 filler fields in the part before Content-Disposition",
        "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n" +
        "".join("X-Filler-%04d: f\n" % i for i in range(1000)) +
        'Content-Disposition: attachment; filename="evil.bat"\n', bat(n, "bat"))
    n = 154
    lim(n, "1000-fields-before-cte", "L05", "1000 filler fields before Content-Transfer-Encoding (MZ hidden as 7bit)",
        'Content-Type: text/plain; charset=us-ascii\nContent-Disposition: attachment; filename="notes.txt"\n' +
        "".join("X-Filler-%04d: f\n" % i for i in range(1000)) +
        "Content-Transfer-Encoding: base64\n", pe(n))
    n = 155
    lim(n, "64k-folded-param", "L06", "a parameter folded over 64 KiB before filename=",
        od + 'x="' + "\n ".join("y" * 70 for _ in range(1000)) +
        '"; filename="evil.bat"\n', bat(n, "bat"))
    n = 156
    lim(n, "1100-byte-name", "L07", "a file name over mime_max_name (1024) bytes",
        od + 'filename="' + "a" * 1100 + '.bat"\n', bat(n, "bat"))
    n = 157
    lim(n, "71-rfc2231-sections", "L08", "71 RFC 2231 sections before filename=",
        od + "; ".join("x*%d=a" % i for i in range(71)) +
        '; filename="evil.bat"\n', bat(n, "bat"))
    n = 158
    add(n, "65-forged-field-names", "L09", "65+ distinct inbound X-MailCorral-* names, then more forged fields",
        headers(n, "L09", "forged fields") + "".join("X-MailCorral-Fake-%02d: x\n" % i for i in range(64)) +
        "X-MailCorral-Zz99: forged\nX-Spam-Flag: YES\nX-Spam-Score: 99.0\n"
        "Content-Type: text/plain; charset=us-ascii\n\n" + keep(n),
        ["delivered", "kept MCKEEP-158", "no-header X-MailCorral-Zz99", "no-header X-MailCorral-Fake-63",
         "no-header X-Spam-Flag", "no-header X-Spam-Score"])
    n = 159
    lb = "L" * 250
    add(n, "long-inner-boundary", "L10", "inner multipart with a boundary past mime_max_boundary (200)",
        headers(n, "L10", "long boundary") + multipart(
            [textpart(n), multipart([attpart("application/octet-stream", "evil.bat", bat(n, "bat"))], lb)],
            "MCB-159-mixed"), bad(n))
    n = 160
    pre = "".join("preamble filler line %05d .......................................\n" % i for i in range(1100))
    add(n, "64k-preamble-hidden-part", "L11", "a MIME part hidden in a preamble past 64 KiB",
        headers(n, "L11", "long preamble") + multipart(
            [textpart(n)], "MCB-160-mixed", preamble=pre +
            'Content-Type: application/octet-stream; name="evil.bat"\nContent-Transfer-Encoding: base64\n\n' +
            b64(bat(n, "bat"))), bad(n))

    # Found by the differential oracle (/work/oracle-escapes, branch oracle)
    n = 161
    inner = headers(n, "L12", "inner") + multipart([textpart(n, "inner"), exe_part(n)], "MCB-161-in")
    add(n, "rfc822-base64", "L12", "message/rfc822 sent base64 (readers decode and parse it)",
        headers(n, "L12", "encoded message/rfc822") + multipart(
            [textpart(n), "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n" +
             b64(inner.replace("\n", "\r\n").encode())], "MCB-161-mixed"), bad(n))
    n = 162
    inner = headers(n, "L13", "inner") + multipart(
        [textpart(n, "inner"), attpart("application/octet-stream", "run.bat", bat(n, "bat"), cte="7bit")], "MCB-162-in")
    add(n, "rfc822-qp", "L13", "message/rfc822 sent quoted-printable, a soft break inside the name",
        headers(n, "L13", "QP message/rfc822") + multipart(
            [textpart(n), "Content-Type: message/rfc822\nContent-Transfer-Encoding: quoted-printable\n\n" +
             inner.replace("=", "=3D").replace("run.bat", "run.b=\nat")], "MCB-162-mixed"), bad(n))
    n = 163
    lim(n, "nul-in-name", "L14", "NUL inside the file name (a C reader stops there: evil.bat)",
        'Content-Type: application/octet-stream; name="evil.bat\x00.txt"\nContent-Transfer-Encoding: base64\n'
        'Content-Disposition: attachment; filename="evil.bat\x00.txt"\n', bat(n, "bat"))

    n = 164
    lim(n, "quote-in-name", "L15", "double quotes inside an unquoted name (readers drop them: xtool.cmd)",
        'Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n'
        'Content-Disposition: attachment; filename=x"tool.cmd"\n', bat(n, "bat"))


# ---------------------------------------------------------------- controls
def controls():
    ok = ["delivered", "unchanged", "kept MCKEEP-%03d"]

    def c(n, slug, title, msg):
        add(n, slug, "K%02d" % (n - 139), title, msg, [e.replace("%03d", "%03d" % n) if "%" in e else e for e in ok])
    n = 140
    c(n, "plain-text", "control: plain text", headers(n, "K01", "control plain text") +
      "Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n\n" + keep(n, "Just a note."))
    n = 141
    pdf = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    c(n, "pdf-attachment", "control: text with a PDF attachment", headers(n, "K02", "control PDF") +
      multipart([textpart(n), attpart("application/pdf", "report.pdf", pdf)], "MCB-141"))
    n = 142
    c(n, "zip-harmless", "control: zip of .txt and .jpg", headers(n, "K03", "control zip") + multipart(
        [textpart(n), attpart("application/zip", "photos.zip",
                              mkzip([("notes.txt", b"notes\r\n"), ("photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\xff\xd9")]))],
        "MCB-142"))
    n = 143
    c(n, "html-newsletter", "control: HTML newsletter without scripts", headers(n, "K04", "control HTML newsletter") + multipart([
        textpart(n, "Our newsletter."),
        "Content-Type: text/html; charset=us-ascii\n\n<html><head><style>p{color:#333}</style></head><body>\n"
        '<h1>News</h1><p>Read <a href="https://example.org/news">more</a>. MCKEEP-143</p>\n<img src="https://example.org/logo.png" alt="logo">\n</body></html>\n'],
        "MCB-143", sub="alternative"))
    n = 144
    c(n, "latin1-text", "control: 8-bit Latin-1 text", headers(n, "K05", "control Latin-1") +
      "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n" + keep(n, "Gr\xfc\xdfe aus M\xfcnchen, \xe7a va, se\xf1or."))
    n = 145
    c(n, "utf8-text", "control: 8-bit UTF-8 text", headers(n, "K06", "control UTF-8") +
      "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" +
      keep(n, "Gr\xc3\xbc\xc3\x9fe \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac \xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82."))
    n = 146
    jpg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(range(200)) + b"\xff\xd9"
    c(n, "inline-jpeg", "control: inline JPEG", headers(n, "K07", "control inline JPEG") + multipart([
        textpart(n, "Picture below."),
        'Content-Type: image/jpeg; name="photo.jpg"\nContent-Transfer-Encoding: base64\nContent-ID: <photo146@corpus>\n'
        'Content-Disposition: inline; filename="photo.jpg"\n\n' + b64(jpg)], "MCB-146", sub="related"))
    n = 147
    ics = ("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Example Corp//Calendar 1.0//EN\nMETHOD:REQUEST\nBEGIN:VEVENT\n"
           "UID:mc147@corpus\nDTSTAMP:20260302T100000Z\nDTSTART:20260310T090000Z\nDTEND:20260310T100000Z\n"
           "SUMMARY:Meeting\nEND:VEVENT\nEND:VCALENDAR\n")
    c(n, "calendar-ics", "control: calendar invitation .ics", headers(n, "K08", "control calendar") + multipart([
        textpart(n, "Invitation attached."),
        'Content-Type: text/calendar; charset=utf-8; method=REQUEST; name="invite.ics"\n'
        'Content-Disposition: attachment; filename="invite.ics"\n\n' + ics], "MCB-147"))
    n = 148
    fwd = ("Date: %s\nFrom: Friend <friend@example.org>\nTo: sender@example.org\nSubject: lunch\n"
           "Message-ID: <fwd148@corpus.mailcorral.test>\nMIME-Version: 1.0\nContent-Type: text/plain\n\nLunch at noon?\n" % DATE)
    c(n, "forward-rfc822", "control: message/rfc822 forward of a harmless mail", headers(n, "K09", "control forward") + multipart([
        textpart(n, "Forwarding this."), "Content-Type: message/rfc822\nContent-Disposition: inline\n\n" + fwd], "MCB-148"))
    n = 149
    c(n, "qp-text", "control: quoted-printable text with a .txt attachment", headers(n, "K10", "control QP text") + multipart([
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n" +
        "Hello =E2=80=94 a long line that needs a soft break because it is longer than seventy-six c=\nharacters. MCKEEP-149\n",
        attpart("text/plain; charset=us-ascii", "notes.txt", b"just notes\n", cte="7bit")], "MCB-149"))


# ---------------------------------------------------------------- mangle
def mangle():
    for n, name, title in ((901, "invoice.pdf.exe", "invoice.pdf.exe renamed (mangle)"),
                           (902, "setup.exe", "setup.exe renamed (mangle)"),
                           (903, "INVOICE.EXE", "upper-case .EXE renamed (mangle)")):
        msg = headers(n, "M%02d" % (n - 900), title) + multipart(
            [textpart(n), attpart("application/octet-stream", name, pe(n))], "MCB-%03d" % n)
        add(n, "mangle-" + name.lower().replace(".", "-"), "M%02d" % (n - 900), title, msg,
            ["delivered", "kept MCKEEP-%03d" % n, "no-name (?i)\\.exe$", "no-name (?i)\\.exe\\b",
             "warning", "header X-MailCorral-Filtered"], sub="mangle")


def main():
    section_a()
    section_b()
    section_c()
    section_d()
    section_e()
    section_g()
    section_h()
    section_l()
    controls()
    mangle()
    seen = set()
    for sub, n, slug, data, exp in OUT:
        assert n not in seen, n
        seen.add(n)
        d = os.path.join(HERE, sub) if sub else HERE
        os.makedirs(d, exist_ok=True)
        base = os.path.join(d, "%03d-%s" % (n, slug))
        with open(base + ".eml", "wb") as f:
            f.write(data)
        with open(base + ".expect", "w") as f:
            f.write("\n".join(exp) + "\n")
    print("gen.py: wrote %d messages" % len(OUT), file=sys.stderr)


if __name__ == "__main__":
    main()
