#!/usr/bin/env python3
"""Check one delivered message against its .expect file.

  check.py EXPECT_FILE SENT_EML DELIVERED_DIR_OR_NONE [SMTP_RESULT]

Prints "PASS NNN technique" or "FAIL NNN technique: reason"; exits 0/1.
Also a module: check(), readings(), find_delivered(), describe().
python3 stdlib only.
"""
import base64
import binascii
import email
import email.header
import email.policy
import glob
import gzip
import io
import os
import quopri
import re
import sys
import tarfile
import zipfile
import zlib

MAX_BLOBS = 20000
MAX_DEPTH = 6

ACTIVE_HTML = re.compile(rb"<script|<iframe|<object|<embed|\son\w+\s*=|javascript:", re.I)
HTMLISH_NAME = re.compile(r"\.(x?html?|svg|hta|xht)\s*$", re.I)


# ------------------------------------------------------------ parsing helpers
def parse_expect(path):
    tech, exp = "", []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            key, _, val = line.partition(" ")
            if key == "technique":
                tech = val
            elif key == "expect":
                k, _, arg = val.partition(" ")
                exp.append((k, arg))
    return tech, exp


def msg_id_of(path):
    m = re.match(r"(\d+)", os.path.basename(path))
    return m.group(1) if m else os.path.basename(path)


def find_delivered(maildir, user):
    if not maildir or maildir == "NONE" or not os.path.isdir(maildir):
        return []
    return sorted(p for p in glob.glob(os.path.join(maildir, user + ".*")) if os.path.isfile(p))


def walk_parts(raw, policy):
    try:
        m = email.message_from_bytes(raw, policy=policy)
        return list(m.walk())
    except Exception:
        return []


def payload_bytes(part):
    try:
        p = part.get_payload(decode=True)
        if isinstance(p, bytes):
            return p
    except Exception:
        pass
    return None


def raw_payload(part):
    try:
        p = part.get_payload(decode=False)
    except Exception:
        return None
    if isinstance(p, str):
        return p.encode("latin-1", "replace")
    return None


B64LINE = re.compile(rb"^[A-Za-z0-9+/=\-_!*\s]{4,}$")


def lenient_b64(text):
    """Decode base64 ignoring junk; decode each padded chunk separately."""
    out = []
    clean = re.sub(rb"[^A-Za-z0-9+/=]", b"", text)
    chunks = re.split(rb"(?<==)(?=[^=])", clean)
    for chunk in chunks:
        c = chunk.rstrip(b"=")
        c = c[: len(c) - (len(c) % 4 == 1)]
        try:
            out.append(base64.b64decode(c + b"=" * (-len(c) % 4)))
        except Exception:
            pass
    if len(chunks) > 1:
        out.append(b"".join(out))
    whole = clean.replace(b"=", b"")
    whole = whole[: len(whole) - (len(whole) % 4 == 1)]
    try:
        out.append(base64.b64decode(whole + b"=" * (-len(whole) % 4)))
    except Exception:
        pass
    return out


def b64_blocks(raw):
    lines = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    run = []
    for line in lines + [b"\x00"]:
        s = line.strip()
        if s and B64LINE.match(s) and b" " not in s:
            run.append(s)
            continue
        if len(run) >= 2 or (len(run) == 1 and len(run[0]) >= 40):
            yield from lenient_b64(b"".join(run))
        run = []


def uu_blocks(raw):
    text = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    for m in re.finditer(rb"(?m)^begin(?:-base64)? [0-7]{3,4} [^\n]*\n(.*?)(?:^end\s*$|\Z)", text, re.S):
        out = bytearray()
        for line in m.group(1).split(b"\n"):
            if not line:
                continue
            try:
                out += binascii.a2b_uu(line)
            except Exception:
                try:
                    n = (((line[0] - 32) & 63) * 4 + 5) // 3
                    out += binascii.a2b_uu(line[:n])
                except Exception:
                    pass
        yield bytes(out)


def bare_uu(text):
    """uuencoded lines without begin/end."""
    out = bytearray()
    for line in text.replace(b"\r", b"").split(b"\n"):
        if not line or line.startswith((b"begin ", b"end")):
            continue
        try:
            out += binascii.a2b_uu(line)
        except Exception:
            try:
                n = (((line[0] - 32) & 63) * 4 + 5) // 3
                out += binascii.a2b_uu(line[:n])
            except Exception:
                pass
    return bytes(out)


def yenc_blocks(raw):
    text = raw.replace(b"\r\n", b"\n")
    for m in re.finditer(rb"(?m)^=ybegin [^\n]*\n(.*?)(?:^=yend|\Z)", text, re.S):
        out = bytearray()
        esc = False
        for b in m.group(1):
            if b in (10, 13):
                continue
            if esc:
                out.append((b - 64 - 42) % 256)
                esc = False
            elif b == 61:
                esc = True
            else:
                out.append((b - 42) % 256)
        yield bytes(out)


BINHEX_ALPHA = b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr"


def binhex_blocks(raw, loose=False):
    text = raw.replace(b"\r", b"").replace(b"\n", b"")
    rx = rb":([!-r]{20,}):" if loose else rb"\(This file must be converted with BinHex[^)]*\)\s*:([^:]*):"
    for m in re.finditer(rx, text):
        bits = 0
        nbits = 0
        out = bytearray()
        for ch in m.group(1):
            v = BINHEX_ALPHA.find(bytes([ch]))
            if v < 0:
                continue
            bits = (bits << 6) | v
            nbits += 6
            if nbits >= 8:
                nbits -= 8
                out.append((bits >> nbits) & 0xFF)
        # RLE (0x90)
        res = bytearray()
        i = 0
        while i < len(out):
            if out[i] == 0x90 and i + 1 < len(out):
                c = out[i + 1]
                if c == 0:
                    res.append(0x90)
                elif res:
                    res += bytes([res[-1]]) * (c - 1)
                i += 2
            else:
                res.append(out[i])
                i += 1
        yield bytes(res)
    del text


def containers(blob):
    """Members of zip/tar/gzip found in a blob."""
    out = []
    if len(blob) < 4:
        return out
    if b"PK\x03\x04" in blob or b"PK\x05\x06" in blob:
        starts = [m.start() for m in re.finditer(rb"PK\x03\x04", blob)][:50]
        tried = set()
        for st in [0] + starts:
            for end in [len(blob)] + [m.end() + 18 for m in re.finditer(rb"PK\x05\x06", blob)][:10]:
                if (st, end) in tried or end <= st:
                    continue
                tried.add((st, end))
                try:
                    with zipfile.ZipFile(io.BytesIO(blob[st:end])) as z:
                        for info in z.infolist()[:2000]:
                            out.append(info.filename.encode("utf-8", "replace"))
                            try:
                                out.append(z.read(info)[:50 * 1024 * 1024])
                            except Exception:
                                pass
                except Exception:
                    pass
        # raw local headers (stored or deflated), tolerant of broken archives
        for st in starts:
            try:
                import struct
                (_sig, _v, flag, meth, _t, _d, _crc, csize, _usize, nlen, xlen) = struct.unpack(
                    "<IHHHHHIIIHH", blob[st:st + 30])
                name = blob[st + 30:st + 30 + nlen]
                data = blob[st + 30 + nlen + xlen:st + 30 + nlen + xlen + (csize or 10 ** 7)]
                out.append(name)
                if meth == 8:
                    out.append(zlib.decompressobj(-15).decompress(data, 50 * 1024 * 1024))
                elif meth == 0:
                    out.append(data)
            except Exception:
                pass
    if blob[:2] == b"\x1f\x8b":
        try:
            out.append(gzip.GzipFile(fileobj=io.BytesIO(blob)).read(50 * 1024 * 1024))
        except Exception:
            try:
                out.append(zlib.decompressobj(31).decompress(blob, 50 * 1024 * 1024))
            except Exception:
                pass
        # the gzip header's FNAME
        if len(blob) > 10 and blob[3] & 8:
            end = blob.find(b"\x00", 10)
            if end > 0:
                out.append(blob[10:end])
    if len(blob) > 262 and blob[257:262] == b"ustar":
        try:
            with tarfile.open(fileobj=io.BytesIO(blob)) as t:
                for m in t.getmembers()[:2000]:
                    out.append(m.name.encode())
                    f = t.extractfile(m)
                    if f:
                        out.append(f.read(50 * 1024 * 1024))
        except Exception:
            pass
    return out


def first_readings(raw):
    yield raw
    yield raw.replace(b"\r\n", b"\n")
    for policy in (email.policy.compat32, email.policy.default):
        for part in walk_parts(raw, policy):
            if part.is_multipart():
                yield raw_payload(part) or b""
                continue
            p = payload_bytes(part)
            if p:
                yield p
            rp = raw_payload(part)
            if rp:
                try:
                    yield quopri.decodestring(rp)
                except Exception:
                    pass
                yield from lenient_b64(rp)
                yield from uu_blocks(rp)
                yield from yenc_blocks(rp)
                cte = str(part.get("content-transfer-encoding", "")).lower()
                if "uu" in cte:
                    yield bare_uu(rp)
                if "binhex" in part.get_content_type() or b"BinHex" in rp[:200]:
                    yield from binhex_blocks(rp, loose=True)
            if part.get_content_type() == "message/rfc822" or part.get_content_maintype() == "message":
                try:
                    yield part.as_bytes()
                except Exception:
                    pass
    yield from b64_blocks(raw)
    yield from uu_blocks(raw)
    yield from yenc_blocks(raw)
    yield from binhex_blocks(raw)


def readings(raw):
    """Every reading of a message we can produce: raw, decoded parts (two
    parsers), QP, base64 blocks, uuencode, yEnc, BinHex, archive members."""
    seen = set()
    queue = [(b, 0) for b in first_readings(raw) if b]
    count = 0
    while queue and count < MAX_BLOBS:
        blob, depth = queue.pop()
        h = (len(blob), zlib.crc32(blob))
        if h in seen:
            continue
        seen.add(h)
        count += 1
        yield blob
        if depth < MAX_DEPTH:
            for c in containers(blob):
                if c:
                    queue.append((c, depth + 1))
            # a decoded blob may itself be a MIME message or hold encodings
            if depth < 3 and (CTYPE_RX.search(blob[:20000]) or b"\nbegin " in blob or b"=ybegin" in blob
                              or b"BinHex" in blob):
                for r in first_readings(blob):
                    if r and r is not blob:
                        queue.append((r, depth + 1))


CTYPE_RX = re.compile(rb"(?im)^content-type\s*:")


def marker_found(raw, marker):
    m = marker.encode()
    for blob in readings(raw):
        if m in blob:
            return True
    return False


def text_parts(raw):
    out = []
    for policy in (email.policy.compat32,):
        for part in walk_parts(raw, policy):
            if part.is_multipart():
                continue
            if part.get_content_maintype() == "text":
                p = payload_bytes(part)
                if p is None:
                    p = raw_payload(part) or b""
                out.append((part, p))
    return out


def decode_name(v):
    if v is None:
        return None
    try:
        v = email.utils.collapse_rfc2231_value(v)
    except Exception:
        v = str(v)
    try:
        parts = email.header.decode_header(v)
        s = ""
        for b, cs in parts:
            if isinstance(b, bytes):
                try:
                    s += b.decode(cs or "latin-1", "replace")
                except LookupError:
                    s += b.decode("latin-1", "replace")
            else:
                s += b
        return s
    except Exception:
        return str(v)


def part_names(raw):
    names = []
    for policy in (email.policy.compat32, email.policy.default):
        for part in walk_parts(raw, policy):
            for getter in (lambda p: p.get_param("name"), lambda p: p.get_param("filename", header="content-disposition"),
                           lambda p: p.get_filename()):
                try:
                    n = decode_name(getter(part))
                except Exception:
                    n = None
                if n:
                    names.append(n)
    return names


def unfold_headers(raw):
    head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    out = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and out:
            out[-1] += b" " + line.strip()
        elif b":" in line:
            out.append(line)
    res = []
    for h in out:
        k, _, v = h.partition(b":")
        res.append((k.strip().lower(), b" ".join(v.split())))
    return res


def body_of(raw):
    r = raw.replace(b"\r\n", b"\n")
    if b"\n\n" not in r:
        return b""
    return r.split(b"\n\n", 1)[1].rstrip(b"\n")


# ------------------------------------------------------------ checks
def check(expect_path, sent_path, maildir, smtp_result=""):
    nnn = msg_id_of(expect_path)
    tech, exp = parse_expect(expect_path)
    label = "%s %s" % (nnn, tech)
    with open(sent_path, "rb") as f:
        sent = f.read()
    copies = find_delivered(maildir, "t" + nnn)
    code = int(smtp_result[:3]) if smtp_result[:3].isdigit() else 0
    keys = [k for k, _ in exp]
    reasons = []
    if "rejected" in keys:
        if not 500 <= code < 600:
            reasons.append("expected SMTP 5xx, got %r" % smtp_result[:80])
        if copies:
            reasons.append("rejected but %d copies delivered" % len(copies))
        return finish(label, reasons)
    if "mta-refused" in keys:
        if code != 421 and not 500 <= code < 600:
            reasons.append("expected sendmail to refuse it, got %r" % smtp_result[:80])
        return finish(label, reasons)
    if len(copies) != 1:
        reasons.append("expected exactly one delivered copy, found %d (SMTP %s)" % (len(copies), smtp_result[:80] or "?"))
        return finish(label, reasons)
    with open(copies[0], "rb") as f:
        got = f.read()
    for k, arg in exp:
        if k == "delivered":
            pass
        elif k == "unchanged":
            if body_of(got) != body_of(sent):
                reasons.append("body changed")
            gh = unfold_headers(got)
            for h in unfold_headers(sent):
                if h not in gh:
                    reasons.append("header %s changed or missing" % h[0].decode("latin-1"))
                    break
            if any(k2.startswith(b"x-mailcorral") for k2, _ in gh):
                reasons.append("has an X-MailCorral header")
        elif k == "removed":
            if marker_found(got, arg):
                reasons.append("%s still present" % arg)
        elif k == "kept":
            if not any(arg.encode() in p for _, p in text_parts(got)):
                reasons.append("%s not found in any text part" % arg)
        elif k == "warning":
            if not any(b"MailCorral" in p for _, p in text_parts(got)):
                reasons.append("no warning text")
        elif k == "defanged":
            for part in walk_parts(got, email.policy.compat32):
                if part.is_multipart():
                    continue
                fn = decode_name(part.get_filename()) or decode_name(part.get_param("name")) or ""
                if part.get_content_type() in ("text/html", "image/svg+xml", "application/xhtml+xml") \
                        or HTMLISH_NAME.search(fn):
                    p = payload_bytes(part) or raw_payload(part) or b""
                    m = ACTIVE_HTML.search(p)
                    if m:
                        reasons.append("active HTML left: %r" % m.group(0).decode("latin-1"))
                        break
        elif k == "no-name":
            rx = re.compile(arg)
            bad = [n for n in part_names(got) if rx.search(n)]
            if bad:
                reasons.append("part name %r matches %s" % (bad[0], arg))
        elif k == "header":
            if not any(h == arg.lower().encode() for h, _ in unfold_headers(got)):
                reasons.append("header %s missing" % arg)
        elif k == "no-header":
            if any(h == arg.lower().encode() for h, _ in unfold_headers(got)):
                reasons.append("header %s present" % arg)
        else:
            reasons.append("unknown expectation %s" % k)
    return finish(label, reasons)


def finish(label, reasons):
    if reasons:
        return False, "FAIL %s: %s" % (label, "; ".join(reasons))
    return True, "PASS %s" % label


def has_active_html(raw):
    for part in walk_parts(raw, email.policy.compat32):
        if part.is_multipart():
            continue
        fn = decode_name(part.get_filename()) or decode_name(part.get_param("name")) or ""
        if part.get_content_type() in ("text/html", "image/svg+xml", "application/xhtml+xml") \
                or HTMLISH_NAME.search(fn):
            if ACTIVE_HTML.search(payload_bytes(part) or raw_payload(part) or b""):
                return True
    return False


def describe(raw, sent=None, smtp_result=""):
    """What the filter did, from the delivered copy (for the demo table)."""
    if raw is None:
        c = smtp_result[:3]
        if c.startswith("5"):
            return "rejected (%s)" % smtp_result[:30]
        if c == "421" and "Bare" in smtp_result:
            return "refused by sendmail (bare CR/LF)"
        if c.startswith("4"):
            return "tempfailed (%s)" % smtp_result[:30]
        return "not delivered"
    did = []
    got_names = part_names(raw)
    if sent is not None:
        gone = []
        for n in part_names(sent):
            n = n.strip()
            if n not in got_names and n not in gone:
                gone.append(n)
        if gone:
            shown = [" ".join(re.sub("[\u200b-\u200f\u202a-\u202e\u2066-\u2069]", "?", g).split())[:24]
                     for g in gone[:3]]
            did.append("removed " + ",".join(shown))
    if any(n.endswith(".disarmed") for n in got_names):
        did.append("renamed")
    if sent is not None and has_active_html(sent) and not has_active_html(raw):
        did.append("defanged")
    if any(b"MailCorral" in p for _, p in text_parts(raw)):
        did.append("warning")
    hv = [v.decode("latin-1") for k, v in unfold_headers(raw) if k.startswith(b"x-mailcorral")]
    if hv:
        m = re.search(r"removed=(\d+) renamed=(\d+) defanged=(\d+)", hv[0])
        if m:
            did.append("hdr:%s/%s/%s" % m.groups())
        elif not did:
            did.append("filtered")
    if not did:
        if sent is not None and body_of(sent) != body_of(raw):
            return "changed"
        return "unchanged"
    return ", ".join(did)


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    ok, line = check(argv[1], argv[2], argv[3], argv[4] if len(argv) > 4 else "")
    print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
