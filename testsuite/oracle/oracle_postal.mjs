// The JavaScript oracle (postal-mime, pinned by package-lock.json) of the
// differential MIME test (doc/oracle.md).  Reads one message path per line
// on standard input; writes one JSON line per message:
//   {"ok":1,"atts":[{"names":[...],"type":"...","data":"<base64>"},...]}
// every attachment postal-mime offers (the text bodies are not attachments
// there).  Lines are handled one at a time, in order.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import PostalMime from 'postal-mime';

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const path of rl) {
    let res;
    try {
        const email = await PostalMime.parse(readFileSync(path));
        const atts = (email.attachments || []).map((a) => {
            const c = a.content;
            const buf = typeof c === 'string' ? Buffer.from(c, 'utf8') :
                Buffer.from(c instanceof ArrayBuffer ? new Uint8Array(c) : c);
            return {
                names: a.filename ? [a.filename] : [],
                type: a.mimeType || '',
                data: buf.toString('base64'),
            };
        });
        res = { ok: 1, atts };
    } catch (e) {
        res = { ok: 0, err: String(e && e.message ? e.message : e) };
    }
    process.stdout.write(JSON.stringify(res) + '\n');
}
