#!/usr/bin/env python3
"""Seeded generator of hostile attachment-carrying messages (doc/oracle.md).

  mutate.py --seed S --count N --out DIR     writes DIR/m<S>-<i>.eml
  mutate.py --seed S --index I               one message to standard output

Message i of seed S depends only on (S, i), so any failure can be made
again from the two numbers.  Every message carries one dangerous payload:
a dangerous name (evil.bat, invoice.exe, ...) on harmless bytes, a small
real PE program (MZ, PE header) under a harmless name or none, or a zip
holding a program.  Its headers are mutated with the techniques below, at
and past each MIME limit of the daemon (smfopts.h, mime.h,
mailcorral.conf(5)): parameters per field (64), RFC 2231 sections (64),
names per part (8), header fields per entity (1000), one header field
(64 KiB), a line (64 KiB), boundary length (200), nesting (32), decoded
name length (1024).  Lines end in CRLF (sendmail refuses bare LF).
python3 stdlib only.
"""
import base64
import binascii
import io
import os
import quopri
import random
import re
import struct
import sys
import zipfile

LIM_PARAMS = 64
LIM_NAMES = 8
LIM_HEADERS = 1000
LIM_HEADER = 65536
LIM_LINE = 65536
LIM_BOUNDARY = 200
LIM_DEPTH = 32
LIM_NAME = 1024

BAD_NAMES = ["evil.bat", "invoice.exe", "setup.msi", "run.js", "doc.scr",
             "report.pdf.exe", "x.vbs", "tool.cmd", "a.hta", "link.lnk",
             "macro.docm", "disk.iso", "p.ps1", "Invoice.EXE", "ok.pif"]
SAFE_NAMES = ["photo.jpg", "notes.txt", "report.pdf", "data.bin", "letter.doc"]


def tiny_pe():
    """A minimal but real PE32 program (i386, one section, entry: ret)."""
    dos = bytearray(64)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3c, 64)           # e_lfanew
    coff = struct.pack("<HHIIIHH", 0x14c, 1, 0, 0, 0, 224, 0x0102)
    opt = bytearray(224)
    struct.pack_into("<HBBIIIIIII", opt, 0, 0x10b, 1, 0, 512, 0, 0,
                     0x1000, 0x1000, 0x1000, 0x400000)
    struct.pack_into("<IIHHHHHHIIIIHHIIIIII", opt, 32, 0x1000, 0x200, 4, 0,
                     0, 0, 4, 0, 0, 0x2000, 0x200, 0, 2, 0, 0x100000, 0x1000,
                     0x100000, 0x1000, 0, 16)
    sect = struct.pack("<8sIIIIIIHHI", b".text", 1, 0x1000, 0x200, 0x200,
                       0, 0, 0, 0, 0x60000020)
    hdr = bytes(dos) + b"PE\0\0" + coff + bytes(opt) + sect
    hdr += bytes(0x200 - len(hdr))
    return hdr + b"\xc3" + bytes(0x1ff)


PE = tiny_pe()


def zip_of(name, data):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        zi = zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0))
        z.writestr(zi, data)
    return b.getvalue()


ZIP = zip_of("evil.exe", PE)


def b64(data, width=76):
    s = base64.b64encode(data)
    return b"\r\n".join(s[i:i + width] for i in range(0, len(s), width)) + b"\r\n"


def uu(name, data):
    out = [b"begin 644 " + name.encode("utf-8", "surrogateescape")]
    for i in range(0, len(data), 45):
        out.append(binascii.b2a_uu(data[i:i + 45]).rstrip(b"\n"))
    out += [b"`", b"end"]
    return b"\r\n".join(out) + b"\r\n"


def yenc(name, data):
    enc = bytearray()
    col = 0
    lines = []
    for c in data:
        o = (c + 42) % 256
        if o in (0, 10, 13, 61):
            enc += bytes([61, (o + 64) % 256])
            col += 2
        else:
            enc.append(o)
            col += 1
        if col >= 128:
            lines.append(bytes(enc))
            enc = bytearray()
            col = 0
    if enc:
        lines.append(bytes(enc))
    head = b"=ybegin line=128 size=%d name=%s" % (len(data), name.encode())
    return b"\r\n".join([head] + lines + [b"=yend size=%d" % len(data)]) + b"\r\n"


# ---- how a name is written as a parameter --------------------------------

def pct(s):
    return "".join(c if c.isalnum() or c in "-_" else
                   "".join("%%%02X" % b for b in c.encode("utf-8", "surrogateescape"))
                   for c in s)


def name_param(rng, attr, name, how):
    """-> list of parameter strings ("attr=value") carrying name."""
    if how == "quoted":
        return ['%s="%s"' % (attr, name)]
    if how == "token":
        return ["%s=%s" % (attr, name.replace(" ", "_"))]
    if how == "b2047":
        return ['%s="=?utf-8?B?%s?="' % (attr, base64.b64encode(name.encode("utf-8", "surrogateescape")).decode())]
    if how == "q2047":
        return ['%s="=?iso-8859-1?Q?%s?="' % (attr, "".join("=%02X" % b for b in name.encode("latin-1", "replace")))]
    if how == "split2047":
        k = rng.randrange(1, max(2, len(name)))
        w = ["=?utf-8?B?%s?=" % base64.b64encode(p.encode()).decode() for p in (name[:k], name[k:])]
        return ['%s="%s"' % (attr, " ".join(w))]
    if how == "bare2047":
        return ["%s==?utf-8?Q?%s?=" % (attr, "".join("=%02X" % b for b in name.encode()))]
    if how == "ext2231":
        return ["%s*=utf-8''%s" % (attr, pct(name))]
    if how == "ext2231lang":
        return ["%s*=iso-8859-1'en'%s" % (attr, pct(name))]
    if how == "sections" or how[8:].isdigit():
        n = int(how[8:]) if len(how) > 8 else rng.randrange(2, 6)
        if n > len(name):
            name = "s" * (n - len(name)) + name    # one byte a section
        n = max(1, n)
        cuts = sorted(rng.sample(range(1, len(name)), n - 1)) if n > 1 else []
        parts = [name[a:b] for a, b in zip([0] + cuts, cuts + [len(name)])]
        out = ['%s*%d="%s"' % (attr, i, p) for i, p in enumerate(parts)]
        return out
    if how == "sections_enc":
        k = rng.randrange(1, len(name))
        return ["%s*0*=utf-8''%s" % (attr, pct(name[:k])), "%s*1*=%s" % (attr, pct(name[k:]))]
    if how == "sections_shuffled":
        k = rng.randrange(1, len(name))
        return ['%s*1="%s"' % (attr, name[k:]), '%s*0="%s"' % (attr, name[:k])]
    if how == "sections_gap":
        k = rng.randrange(1, len(name))
        return ['%s*0="%s"' % (attr, name[:k]), '%s*2="%s"' % (attr, name[k:])]
    if how == "sections_dup":
        k = rng.randrange(1, len(name))
        return ['%s*0="notes"' % attr, '%s*0="%s"' % (attr, name[:k]), '%s*1="%s"' % (attr, name[k:])]
    if how == "qpair":
        return ['%s="%s"' % (attr, "".join("\\" + c if rng.random() < 0.3 else c for c in name))]
    if how == "comment":
        return ['%s=(x)"%s"(y)' % (attr, name)]
    if how == "unquoted_space":
        return ["%s=my %s" % (attr, name)]
    if how == "nul":
        k = rng.randrange(0, len(name) + 1)
        return ['%s="%s\0%s"' % (attr, name[:k], name[k:])]
    if how == "nul_tail":
        return ['%s="%s\0.txt"' % (attr, name)]
    if how == "latin1":
        return ['%s="\udcff%s"' % (attr, name)]      # a raw 0xff byte
    if how == "utf8":
        return ['%s="\u00e9t\u00e9 %s"' % (attr, name)]
    if how == "long":
        pad = rng.choice([LIM_NAME - 8, LIM_NAME - 4, LIM_NAME, LIM_NAME + 1,
                          LIM_NAME + 20, 2 * LIM_NAME, 5000])
        return ['%s="%s%s"' % (attr, "A" * pad, name)]
    if how == "trailing":
        return ['%s="%s%s"' % (attr, name, rng.choice([".", " ", ". .", "\t", "..."]))]
    if how == "bidi":
        return ['%s="%s"' % (attr, name[:-4] + "\u202e" + name[-4:])]
    if how == "path":
        return ['%s="C:\\\\tmp\\\\%s"' % (attr, name)]
    if how == "quotes":
        # quote characters inside the name (a raw QP "=3D\"x\"" reads so)
        return [rng.choice(['%s=x"%s"' % (attr, name), '%s="\\"%s\\""' % (attr, name),
                            "%s='%s'" % (attr, name), '%s=""%s""' % (attr, name)])]
    if how == "folded":
        k = rng.randrange(1, len(name))
        return ['%s="%s\r\n %s"' % (attr, name[:k], name[k:])]
    return ['%s="%s"' % (attr, name)]


NAME_HOWS = ["quoted", "token", "b2047", "q2047", "split2047", "bare2047",
             "ext2231", "ext2231lang", "sections", "sections_enc",
             "sections_shuffled", "sections_gap", "sections_dup", "qpair",
             "comment", "unquoted_space", "nul", "nul_tail", "latin1", "utf8",
             "long", "trailing", "bidi", "path", "folded", "quotes"]


def junk_params(rng, n):
    return ["x%d=%s" % (i, rng.choice(["y", '"q"', "1", "a-b"])) for i in range(n)]


def field(name, value, params, fold):
    """One header field; params joined with ';' and folded when fold."""
    sep = ";\r\n\t" if fold else "; "
    return name + ": " + value + "".join((sep if fold else "; ") + p for p in params)


def around(rng, lim):
    return rng.choice([lim - 1, lim, lim + 1, lim + 2, 2 * lim,
                       rng.randrange(lim - 3, lim + 4)])


# ---- one message ---------------------------------------------------------

class Msg:
    def __init__(self, seed, index):
        self.rng = random.Random(seed * 1000003 + index)
        self.seed, self.index = seed, index
        self.tech = []

    def t(self, s):
        self.tech.append(s)


def payload(m):
    r = m.rng.random()
    if r < 0.55:
        name = m.rng.choice(BAD_NAMES)
        data = (b"harmless text of %s\r\n" % name.encode()) * m.rng.randrange(1, 20)
        m.t("payload=name:" + name)
        return name, data, m.rng.choice(["application/octet-stream", "text/plain",
                                          "application/pdf", "image/jpeg"])
    if r < 0.85:
        name = m.rng.choice(SAFE_NAMES + [None])
        m.t("payload=pe:%s" % name)
        return name, PE, m.rng.choice(["application/octet-stream", "image/jpeg",
                                        "text/plain", "application/pdf"])
    name = m.rng.choice(["docs.zip", "archive.dat", None, "photo.jpg"])
    m.t("payload=zip:%s" % name)
    return name, ZIP, m.rng.choice(["application/zip", "application/octet-stream"])


def attachment_part(m, name, data, ctype):
    """-> list of header lines (CRLF-free, may contain folds), body bytes"""
    rng = m.rng
    how = rng.choice(NAME_HOWS)
    if how == "sections" and rng.random() < 0.5:
        how = "sections%d" % around(rng, LIM_PARAMS)
    where = rng.choice(["both", "both", "ct", "cd"])
    m.t("name=%s@%s" % (how, where))
    ct_params, cd_params = [], []
    if name is not None:
        if where in ("both", "ct"):
            ct_params += name_param(rng, "name", name, how)
        if where in ("both", "cd"):
            cd_params += name_param(rng, "filename", name, how)
    cte = "base64"
    body = b64(data)
    extra_fields = []
    # floods and conflicts: 0..2 of them
    for _ in range(rng.choice([0, 1, 1, 2])):
        k = rng.choice(["params", "names", "hflood", "longhdr", "dupct",
                        "dupcd", "dupcte", "cte", "cdonly", "prefix_names"])
        if k == "params":
            n = around(rng, LIM_PARAMS)
            tgt = rng.choice(["ct", "cd"])
            (ct_params if tgt == "ct" else cd_params)[:0] = junk_params(rng, n)
            m.t("params=%d@%s" % (n, tgt))
        elif k == "names" and name is not None:
            n = around(rng, LIM_NAMES)
            safe = ['name="%s"' % rng.choice(SAFE_NAMES) for _ in range(n)]
            ct_params[:0] = safe
            m.t("names=%d" % n)
        elif k == "prefix_names" and name is not None:
            cd_params[:0] = ['filename="%s"' % rng.choice(SAFE_NAMES)]
            m.t("safe-filename-first")
        elif k == "hflood":
            n = around(rng, LIM_HEADERS)
            extra_fields += ["X-Junk-%d: %d" % (i, i) for i in range(n)]
            m.t("headers=%d" % n)
        elif k == "longhdr":
            n = rng.choice([LIM_HEADER - 100, LIM_HEADER, LIM_HEADER + 10, 2 * LIM_HEADER])
            tgt = rng.choice(["own", "ct", "cd"])
            if tgt == "own":
                extra_fields.append("X-Long: " + "a" * n)
            else:
                (ct_params if tgt == "ct" else cd_params)[:0] = ['pad="%s"' % ("p" * n)]
            m.t("longhdr=%d@%s" % (n, tgt))
        elif k == "dupct":
            m.t("dup-ct")
            extra_fields.append(("DUPCT", rng.choice(["text/plain", "image/gif",
                                                      "text/plain; name=\"ok.txt\""])))
        elif k == "dupcd":
            m.t("dup-cd")
            extra_fields.append(("DUPCD", rng.choice(["inline", 'attachment; filename="ok.txt"'])))
        elif k == "dupcte":
            m.t("dup-cte")
            extra_fields.append(("DUPCTE", rng.choice(["7bit", "quoted-printable", "x-foo"])))
        elif k == "cte":
            form = rng.choice(["qp", "uu", "junk64", "case", "unknown", "binary8"])
            m.t("cte=" + form)
            if form == "qp":
                cte, body = "quoted-printable", re.sub(rb"\r?\n", b"\r\n", quopri.encodestring(data))
            elif form == "uu":
                cte, body = "x-uuencode", uu(name or "file", data)
            elif form == "junk64":
                lines = body.split(b"\r\n")
                k2 = rng.randrange(0, len(lines))
                lines.insert(k2, rng.choice([b"!!junk!!", b"====", b"--", b" \t "]))
                body = b"\r\n".join(lines)
            elif form == "case":
                cte = rng.choice([" BASE64 ", "Base64 (comment)", "base64;", '"base64"'])
            elif form == "unknown":
                cte = "x-mystery"
            else:
                cte = "8bit"
                body = re.sub(rb"\r\n|\r|\n", b"\r\n", data) + b"\r\n"
        elif k == "cdonly":
            ctype = ""
            m.t("no-ct")
    fold = rng.random() < 0.4
    lines = []
    dup_first = rng.random() < 0.5
    ct_line = field("Content-Type", ctype, ct_params, fold) if ctype or ct_params else None
    if ct_line is not None and not ctype:
        ct_line = field("Content-Type", "application/octet-stream", ct_params, fold)
    cd_line = field("Content-Disposition", "attachment", cd_params, fold)
    for f in extra_fields:
        if isinstance(f, str):
            lines.append(f)
    main = [x for x in (ct_line, cd_line, "Content-Transfer-Encoding: " + cte) if x]
    dups = []
    for f in extra_fields:
        if isinstance(f, tuple):
            nm = {"DUPCT": "Content-Type", "DUPCD": "Content-Disposition",
                  "DUPCTE": "Content-Transfer-Encoding"}[f[0]]
            dups.append("%s: %s" % (nm, f[1]))
    lines += (dups + main) if dup_first else (main + dups)
    return lines, body


def boundary(m):
    rng = m.rng
    r = rng.random()
    if r < 0.75:
        return "b%d_%d" % (m.seed, m.index), "plain"
    if r < 0.85:
        n = rng.choice([LIM_BOUNDARY - 1, LIM_BOUNDARY, LIM_BOUNDARY + 1, 250])
        return ("B" * n)[:n], "len%d" % n
    return rng.choice(["b d", "b=d", "b;d", "(b)", "b\"d"]), "chars"


def quote_b(b):
    return '"%s"' % b.replace("\\", "\\\\").replace('"', '\\"')


def multipart(m, parts, depth=0):
    """parts: list of (header lines, body) -> (CT field value, body bytes)"""
    rng = m.rng
    b, kind = boundary(m)
    if depth == 0 and kind != "plain":
        m.t("boundary=" + kind)
    trick = rng.choice(["none"] * 6 + ["two-boundary", "ws-delim", "no-close",
                                       "in-epilogue", "in-preamble",
                                       "prefix", "longline", "upper"]) if depth == 0 else "none"
    if trick != "none":
        m.t("trick=" + trick)
    delim_b = b
    params = ["boundary=" + quote_b(b)]
    if trick == "two-boundary":
        other = "other_" + b[:50]
        if rng.random() < 0.5:
            params = ["boundary=" + quote_b(other)] + params
        else:
            params = params + ["boundary=" + quote_b(other)]
    elif trick == "upper":
        params = ["BOUNDARY=" + quote_b(b)]
    out = io.BytesIO()
    out.write(b"This is a multi-part message in MIME format.\r\n")
    hidden = None
    if trick in ("in-epilogue", "in-preamble") and parts:
        hidden = parts.pop()
    if trick == "in-preamble" and hidden:
        out.write(b"\r\n".join(x.encode("utf-8", "surrogateescape") for x in hidden[0]) + b"\r\n\r\n" + hidden[1])
    for i, (hl, body) in enumerate(parts):
        tail = b""
        if trick == "ws-delim":
            tail = rng.choice([b" ", b"\t", b"  \t"])
        if trick == "longline":
            tail = b" " * (LIM_LINE + rng.randrange(-2, 3))
        if trick == "prefix" and i == len(parts) - 1:
            # a delimiter-looking line whose boundary only starts with b
            out.write(b"\r\n--" + b.encode() + b"x\r\nContent-Type: text/plain\r\n\r\nnot a part\r\n")
        out.write(b"\r\n--" + delim_b.encode("utf-8", "surrogateescape") + tail + b"\r\n")
        out.write(b"\r\n".join(x.encode("utf-8", "surrogateescape") for x in hl) + b"\r\n\r\n")
        out.write(body)
    if trick != "no-close":
        out.write(b"\r\n--" + delim_b.encode() + b"--\r\n")
    if trick == "in-epilogue" and hidden:
        out.write(b"\r\n".join(x.encode("utf-8", "surrogateescape") for x in hidden[0]) + b"\r\n\r\n" + hidden[1])
    return "multipart/mixed; " + "; ".join(params), out.getvalue()


def text_part(m, extra=b""):
    return (["Content-Type: text/plain; charset=utf-8",
             "Content-Transfer-Encoding: 8bit"],
            b"Hello,\r\n\r\nplease find the file attached.\r\n" + extra)


def top(m, ctype, body, extra=()):
    h = ["From: Sender <sender@example.org>",
         "To: rcpt@mx.mailcorral.test",
         "Subject: oracle seed %d message %d" % (m.seed, m.index),
         "Date: Mon, 07 Dec 2026 12:00:00 +0000",
         "Message-ID: <oracle-%d-%d@example.org>" % (m.seed, m.index),
         "MIME-Version: 1.0"] + list(extra) + ["Content-Type: " + ctype]
    return "\r\n".join(h).encode("utf-8", "surrogateescape") + b"\r\n\r\n" + body


def make(seed, index):
    """-> (message bytes, technique words)"""
    m = Msg(seed, index)
    rng = m.rng
    name, data, ctype = payload(m)
    shape = rng.random()
    if shape < 0.08:
        # the attachment inside text: uuencode or yEnc
        enc = rng.choice(["uu", "yenc"])
        m.t("embedded=" + enc)
        nm = name or rng.choice(BAD_NAMES)
        block = uu(nm, data) if enc == "uu" else yenc(nm, data)
        hl, body = text_part(m, b"\r\n" + block)
        ct, mb = multipart(m, [(hl, body)])
        return top(m, ct, mb), m.tech
    if shape < 0.14:
        # the whole message is the attachment
        m.t("single-part")
        hl, body = attachment_part(m, name, data, ctype)
        hdr = "\r\n".join(hl).encode("utf-8", "surrogateescape")
        return top_raw(m, hdr, body), m.tech
    hl, body = attachment_part(m, name, data, ctype)
    parts = [text_part(m), (hl, body)]
    wrap = rng.random()
    if wrap < 0.15:
        # inside message/rfc822 or message/global, 1..3 deep, the outer
        # one perhaps base64 or quoted-printable encoded
        depth = rng.choice([1, 1, 2, 3])
        kind = rng.choice(["message/rfc822", "message/global"])
        m.t("wrap=%s*%d" % (kind, depth))
        ct, mb = multipart(m, parts, depth=1)
        inner = top(m, ct, mb)
        for _ in range(depth):
            cd = rng.choice(["inline", 'attachment; filename="fwd.eml"'])
            ct, mb = multipart(m, [text_part(m), (["Content-Type: " + kind,
                                                   "Content-Disposition: " + cd], inner)], depth=1)
            inner = top(m, ct, mb)
        enc = rng.choice(["", "", "base64", "quoted-printable"])
        if enc:
            # RFC 2046 allows only 7bit/8bit/binary here; parsers that
            # decode it anyway find the inner message (noxxi nc084)
            m.t("wrap-cte=" + enc)
            inner = b64(inner) if enc == "base64" else re.sub(
                rb"\r?\n", b"\r\n", quopri.encodestring(inner))
        hl = ["Content-Type: " + kind] + (["Content-Transfer-Encoding: " + enc] if enc else [])
        ct, mb = multipart(m, [text_part(m), (hl, inner)])
        return top(m, ct, mb), m.tech
    if wrap < 0.2:
        depth = around(m.rng, LIM_DEPTH)
        m.t("nest=%d" % depth)
        ct, mb = multipart(m, parts, depth=1)
        for _ in range(depth - 1):
            ct, mb = multipart(m, [(["Content-Type: " + ct], mb)], depth=1)
        ct, mb = multipart(m, [(["Content-Type: " + ct], mb)])
        return top(m, ct, mb), m.tech
    ct, mb = multipart(m, parts)
    return top(m, ct, mb), m.tech


def top_raw(m, part_headers, body):
    h = ["From: Sender <sender@example.org>",
         "To: rcpt@mx.mailcorral.test",
         "Subject: oracle seed %d message %d" % (m.seed, m.index),
         "Date: Mon, 07 Dec 2026 12:00:00 +0000",
         "Message-ID: <oracle-%d-%d@example.org>" % (m.seed, m.index),
         "MIME-Version: 1.0"]
    return "\r\n".join(h).encode() + b"\r\n" + part_headers + b"\r\n\r\n" + body


def main(argv):
    args = dict(zip(argv[1::2], argv[2::2]))
    if "--seed" not in args:
        print(__doc__, file=sys.stderr)
        return 2
    seed = int(args["--seed"])
    if "--index" in args:
        data, tech = make(seed, int(args["--index"]))
        sys.stdout.buffer.write(data)
        print("# " + " ".join(tech), file=sys.stderr)
        return 0
    count, out = int(args["--count"]), args["--out"]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "index.tsv"), "w") as idx:
        for i in range(count):
            data, tech = make(seed, i)
            p = os.path.join(out, "m%d-%d.eml" % (seed, i))
            with open(p, "wb") as f:
                f.write(data)
            idx.write("%s\t%d\t%d\t%s\n" % (os.path.basename(p), seed, i, " ".join(tech)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
