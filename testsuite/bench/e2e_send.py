"""e2e_send.py PORT FILE [N]: sends FILE N times (default 50) in one SMTP
session to 127.0.0.1:PORT; prints "ms-per-message accepted N"."""
import smtplib
import sys
import time

port, path = int(sys.argv[1]), sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 50
data = open(path, "rb").read()
s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.example", timeout=120)
s.ehlo()
ok = 0
t0 = time.monotonic()
for i in range(n):
    try:
        s.sendmail("alice@example.org", ["bob"], data)
        ok += 1
    except smtplib.SMTPException as e:
        print("error:", e, file=sys.stderr)
el = time.monotonic() - t0
s.quit()
print("%.1f %d %d" % (el * 1000 / n, ok, n))
