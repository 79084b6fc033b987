#include "unit.h"
#include "buf.h"
#include "conf.h"
#include "rewrite.h"
#include "scan.h"
static int collect(void *a, const char *p, size_t n){ return buf_add(a,p,n);}
int main(int argc, char **argv){
 struct mc_config *cf; char err[256]; conf_load(NULL,&cf,err,sizeof err);
 if (argc>2) cf->attachment_action=CONF_ATTACH_MANGLE;
 FILE *fp=fopen(argv[1],"rb"); struct buf in=BUF_INIT; char rb[65536]; size_t n; while((n=fread(rb,1,sizeof rb,fp))>0) buf_add(&in,rb,n); char *msg=in.data; n=in.len;
 struct scan *sc=scan_new(cf,"T");
 char *body=strstr(msg,"\r\n\r\n"); char *p=msg; 
 /* crude header split */
 while (p < body+2){ char *eol=strstr(p,"\r\n"); char *c=memchr(p,':',eol-p); 
   char *e2=eol; while (e2[2]==' '||e2[2]=='\t') e2=strstr(e2+2,"\r\n");
   char name[256]; snprintf(name,sizeof name,"%.*s",(int)(c-p),p); char *v=c+1; if(*v==' ')v++;
   struct buf val=BUF_INIT; buf_add(&val,v,e2-v); scan_header(sc,name,val.data); buf_free(&val); p=e2+2; }
 scan_eoh(sc); scan_body(sc,body+4,strlen(body+4)); scan_finish(sc);
 struct buf out=BUF_INIT; struct rw_result r; rw_rewrite(sc,cf,collect,&out,&r);
 printf("changed=%d removed=%u renamed=%u defanged=%u all=%d views=%d\nsummary=%s\n----\n%s", r.changed,r.removed,r.renamed,r.defanged,r.replace_all,scan_views(sc), r.summary.data?r.summary.data:"", out.data?out.data:"");
 return 0; }
