#include <stdio.h>
#include <string.h>
#include "mime.h"
int main(int c, char **v){ FILE *f=fopen(v[1],"rb"); static char b[1<<22]; size_t n=fread(b,1,sizeof b,f);
 struct mime *m=mime_new(NULL,c>2?MIME_VIEW_LAST:MIME_VIEW_FIRST,NULL,NULL); mime_push(m,b,n); mime_finish(m);
 unsigned np; const struct mime_part *p=mime_parts(m,&np);
 printf("errors=%#x\n", mime_errors(m));
 for (unsigned i=0;i<np;i++){ printf("%u par=%u d=%u fl=%#x %s cte=%d st=%llu hs=%llu bs=%llu be=%llu e=%llu names:", p[i].id,p[i].parent,p[i].depth,p[i].flags,p[i].type,p[i].cte,
 (unsigned long long)p[i].start,(unsigned long long)p[i].hdr_start,(unsigned long long)p[i].body_start,(unsigned long long)p[i].body_end,(unsigned long long)p[i].end);
 for(unsigned k=0;k<p[i].nnames;k++) printf(" [%s]",p[i].names[k]); printf("\n");} return 0;}
