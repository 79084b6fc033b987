#!/usr/bin/env python3
"""Generate the benchmark corpus (deterministic, python3 stdlib only).

  gencorpus.py OUTDIR

OUTDIR/mix/     the mixed corpus the throughput runs cycle over
OUTDIR/size/    att-1m.eml and att-10m.eml for the size-linearity check
Same bytes on every run: a fixed seed drives every random byte.
"""
import base64
import io
import os
import random
import sys
import zipfile

EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!"
         b"$H+H*")
GTUBE = ("XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*"
         "C.34X")
WORDS = ("the quick brown fox jumps over a lazy dog mail filter message "
         "corral sendmail milter header body attachment report meeting "
         "budget quarter invoice schedule project update team review "
         "please find attached regards thanks tomorrow").split()


def headers(n, subject, ctype, extra=""):
    return ("Received: from client.example (client.example [192.0.2.1])\r\n"
            "\tby mx.mailcorral.test with ESMTP id bench%05d;\r\n"
            "\tMon, 1 Jan 2024 12:00:00 +0000\r\n"
            "From: Alice Example <alice@example.org>\r\n"
            "To: Bob Example <bob@example.com>\r\n"
            "Subject: %s\r\n"
            "Date: Mon, 1 Jan 2024 12:00:00 +0000\r\n"
            "Message-ID: <bench%05d@example.org>\r\n"
            "MIME-Version: 1.0\r\n"
            "%s"
            "Content-Type: %s\r\n"
            "\r\n" % (n, subject, n, extra, ctype))


def text(rng, size):
    out, n, line = [], 0, []
    while n < size:
        w = rng.choice(WORDS)
        line.append(w)
        if sum(len(x) + 1 for x in line) > 70:
            s = " ".join(line) + "\r\n"
            out.append(s)
            n += len(s)
            line = []
    return "".join(out)


def b64(data):
    s = base64.b64encode(data).decode()
    return "".join(s[i:i + 76] + "\r\n" for i in range(0, len(s), 76))


def multipart(n, subject, parts):
    bnd = "=_bench_boundary_%05d" % n
    out = [headers(n, subject, 'multipart/mixed; boundary="%s"' % bnd),
           "This is a multi-part message in MIME format.\r\n"]
    for ph, pb in parts:
        out.append("--%s\r\n%s\r\n%s" % (bnd, ph, pb))
    out.append("--%s--\r\n" % bnd)
    return "".join(out)


def attach(name, ctype, data):
    return ("Content-Type: %s; name=\"%s\"\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            "Content-Disposition: attachment; filename=\"%s\"\r\n"
            % (ctype, name, name), b64(data))


def textpart(body):
    return ("Content-Type: text/plain; charset=us-ascii\r\n"
            "Content-Transfer-Encoding: 7bit\r\n", body)


def write(path, s):
    with open(path, "wb") as f:
        f.write(s.encode() if isinstance(s, str) else s)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gencorpus.py OUTDIR")
    out = sys.argv[1]
    mix = os.path.join(out, "mix")
    size = os.path.join(out, "size")
    os.makedirs(mix, exist_ok=True)
    os.makedirs(size, exist_ok=True)
    rng = random.Random(20240101)

    for i, kb in enumerate((2, 20, 200)):
        write(os.path.join(mix, "%02d-text-%dk.eml" % (i + 1, kb)),
              headers(i + 1, "plain text %d KB" % kb,
                      "text/plain; charset=us-ascii") + text(rng, kb * 1024))

    html = ["<html><head><title>Newsletter</title></head><body>\r\n"]
    for k in range(60):
        html.append("<p>%s <a href=\"https://www.example.com/item/%d\">"
                    "item %d</a></p>\r\n" % (text(rng, 200).replace("\r\n", " "),
                                              k, k))
    html.append("<img src=\"https://www.example.com/logo.png\" alt=\"logo\">\r\n"
                "</body></html>\r\n")
    alt = "=_bench_alt_04"
    body = ("--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n%s"
            "--%s\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n%s"
            "--%s--\r\n" % (alt, text(rng, 3000), alt, "".join(html), alt))
    write(os.path.join(mix, "04-html.eml"),
          headers(4, "HTML newsletter",
                  'multipart/alternative; boundary="%s"' % alt) + body)

    write(os.path.join(mix, "05-pdf-100k.eml"),
          multipart(5, "report 100 KB", [
              textpart(text(rng, 1000)),
              attach("report.pdf", "application/pdf", rng.randbytes(100 * 1024))]))
    write(os.path.join(mix, "06-pdf-1400k.eml"),
          multipart(6, "report 1.4 MB", [
              textpart(text(rng, 1000)),
              attach("scan.pdf", "application/pdf", rng.randbytes(1400 * 1024))]))

    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, kb in (("minutes.txt", 8), ("budget.csv", 20),
                         ("notes/readme.txt", 4)):
            zi = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 12, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, text(rng, kb * 1024))
        zi = zipfile.ZipInfo("photo.jpg", date_time=(2024, 1, 1, 12, 0, 0))
        z.writestr(zi, rng.randbytes(30 * 1024))
    write(os.path.join(mix, "07-zip.eml"),
          multipart(7, "documents (zip)", [
              textpart(text(rng, 800)),
              attach("documents.zip", "application/zip", zbuf.getvalue())]))

    write(os.path.join(mix, "08-eicar.eml"),
          multipart(8, "eicar test", [
              textpart(text(rng, 500)),
              attach("eicar.txt", "text/plain", EICAR)]))

    write(os.path.join(mix, "09-gtube.eml"),
          headers(9, "gtube test", "text/plain; charset=us-ascii")
          + text(rng, 600) + GTUBE + "\r\n" + text(rng, 300))

    for mb in (1, 10):
        write(os.path.join(size, "att-%dm.eml" % mb),
              multipart(20 + mb, "attachment %d MB" % mb, [
                  textpart(text(rng, 1000)),
                  attach("data.pdf", "application/pdf",
                         rng.randbytes(mb * 1024 * 1024))]))


if __name__ == "__main__":
    main()
