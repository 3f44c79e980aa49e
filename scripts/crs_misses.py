#!/usr/bin/env python3
"""CRS misses by category, with decoded request line, headers and body.

Runs ./target/debug/specula over ../shared/corpus/crs/crs.pcap with a rule
folder (default: rules/, read from disk, so rule edits need no rebuild) and
prints the category table to stderr; for CATEGORY it prints every `detect`
case without a class hit (or, with `clean`, every flagged clean case).

    python3 scripts/crs_misses.py [RULES_DIR] [CATEGORY] [detect|clean]

The category -> class mapping is the one in tests/corpus_crs.rs.
"""
import json, sys, base64, subprocess, urllib.parse, collections
CLS = {"sqli":["sqli","nosqli"],"xss":["xss"],"rce":["rce","mail_injection"],"php":["rce"],"java":["rce"],"lfi":["ptrav"],
"rfi":["rfi","ssrf"],"generic":["rce","ssrf","ssti","rfi"],"session-fixation":["session_fixation"],"scanner":["scanner"],
"protocol":["protocol"],"multipart":["protocol"],"method-enforcement":["protocol"]}
REQ=list(CLS)
rules = sys.argv[1] if len(sys.argv)>1 else "rules"
show = sys.argv[2] if len(sys.argv)>2 else ""
mode = sys.argv[3] if len(sys.argv)>3 else "detect"
out = subprocess.run(["./target/debug/specula","read","--rules",rules,"--emit","both","--no-progress","../shared/corpus/crs/crs.pcap"],capture_output=True).stdout
by=collections.defaultdict(set); rid=collections.defaultdict(set)
for l in out.splitlines():
    r=json.loads(l)
    if "attack_classes" in r: by[r["request_id"]].update(r["attack_classes"])
    elif "rule_id" in r: rid[r.get("request_id","")].add(r["rule_id"])
tab=collections.defaultdict(lambda:[0,0,0,0])
for l in open("../shared/corpus/crs/tests.jsonl"):
    t=json.loads(l); c=t["category"]
    if c not in CLS: continue
    cl=by.get(t["id"],set()); hit=bool(set(CLS[c])&cl)
    row=tab[c]
    if t["expect"]=="detect":
        row[0]+=1; row[1]+=hit
        if c==show and mode=="detect" and not hit:
            raw=base64.b64decode(t["raw"]).decode("latin1")
            head,_,body=raw.partition("\r\n\r\n")
            line=head.split("\r\n")[0]
            hdrs=[h for h in head.split("\r\n")[1:] if not h.lower().startswith(("host:","user-agent: owasp","accept:","connection:","x-request-id","content-length"))]
            print("==",t["id"],sorted(cl), urllib.parse.unquote(line)[:300]); 
            for h in hdrs: print("   H",urllib.parse.unquote(h)[:200])
            if body: print("   B",urllib.parse.unquote_plus(body)[:300].replace("\n","\\n"))
    else:
        row[2]+=1; row[3]+=bool(cl)
        if c==show and mode=="clean" and cl:
            raw=base64.b64decode(t["raw"]).decode("latin1")
            print("==",t["id"],sorted(rid.get(t["id"],[])), urllib.parse.unquote(raw.split("\r\n")[0])[:250], urllib.parse.unquote_plus(raw.partition("\r\n\r\n")[2])[:200])
d=h=cl=f=0
for c in REQ:
    r=tab[c]; d+=r[0]; h+=r[1]; cl+=r[2]; f+=r[3]
    print(f"{c:20} {r[0]:5} {100*r[1]/max(r[0],1):6.1f}% {r[2]:5} {100*r[3]/max(r[2],1):6.1f}%", file=sys.stderr)
print(f"{'TOTAL':20} {d:5} {100*h/max(d,1):6.1f}% {cl:5} {100*f/max(cl,1):6.1f}%", file=sys.stderr)
