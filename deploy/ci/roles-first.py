#!/usr/bin/env python3
"""Fails when a route handler reads its request before its role check.

A handler that takes `Authorized<R>` must take it before any extractor that reads and can refuse
the request (a body, a query, a path, a header): actix-web resolves extractors in argument order
and answers the first error, so a learner sending a malformed body to an admin route must get 403,
never the 400 that reveals what the route would accept. Whether a body extractor finishes first
depends on when the body arrives, so an HTTP test alone could miss the wrong order; this reads the
signatures instead. The e2e test `contract::every_admin_route_in_the_document_refuses_a_learner_
before_reading_the_request` checks the answers.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path("services")
# Extractors that read the request and can refuse it.
READS = re.compile(
    r":\s*(?:::)?(?:web::|actix_web::web::|bytes::)?"
    r"(Json|Query|Path|Bytes|Form|MaybeIdempotencyKey|IdempotencyKey|Caller|MaybeCaller)\b"
)
HANDLER = re.compile(r"pub(?:\(crate\))?\s+async\s+fn\s+(\w+)\s*\((.*?)\)\s*->", re.S)


def main():
    wrong = []
    checked = 0
    for path in sorted(ROOT.glob("*/src/**/*.rs")):
        text = path.read_text()
        for m in HANDLER.finditer(text):
            params = [p.strip() for p in re.split(r",\s*\n|,\s*(?=\w+\s*:)", m.group(2)) if p.strip()]
            auth = next((i for i, p in enumerate(params) if "Authorized<" in p), None)
            if auth is None:
                continue
            checked += 1
            early = [p for p in params[:auth] if READS.search(p)]
            if early:
                line = text.count("\n", 0, m.start()) + 1
                wrong.append(f"{path}:{line}: {m.group(1)} reads {early} before its Authorized<…>")
    for w in wrong:
        print(w)
    if wrong:
        print("roles-first: take `Authorized<…>` before the body, query, path and headers")
        return 1
    if checked < 40:
        print(f"roles-first: only {checked} handlers with Authorized<…> found; is the pattern stale?")
        return 1
    print(f"roles-first: {checked} handlers check their role before reading the request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
