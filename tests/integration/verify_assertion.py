#!/usr/bin/python3
"""Verifies an X-Gatehouse-Assertion with an independent JOSE implementation (jwcrypto).

usage: verify_assertion.py JWKS_FILE JWT EXPECTED_ISS EXPECTED_AUD
Prints the verified claims as JSON; exits non-zero with a message on any failure.
"""
import json
import sys
import time

from jwcrypto import jwk, jws


def main() -> int:
    jwks_file, token, iss, aud = sys.argv[1:5]
    with open(jwks_file, encoding="utf-8") as f:
        keyset = jwk.JWKSet.from_json(f.read())
    sig = jws.JWS()
    sig.deserialize(token)
    protected = json.loads(sig.objects["protected"])
    if protected.get("alg") not in ("ES256", "EdDSA"):
        print(f"unexpected alg {protected.get('alg')}", file=sys.stderr)
        return 1
    key = keyset.get_key(protected["kid"])
    if key is None:
        print("kid not in JWKS", file=sys.stderr)
        return 1
    sig.verify(key, alg=protected["alg"])
    claims = json.loads(sig.payload)
    now = time.time()
    problems = []
    if claims.get("iss") != iss:
        problems.append(f"iss {claims.get('iss')!r} != {iss!r}")
    if claims.get("aud") != aud:
        problems.append(f"aud {claims.get('aud')!r} != {aud!r}")
    if not claims.get("iat", 0) <= now + 5:
        problems.append("iat in the future")
    if not claims.get("exp", 0) > now:
        problems.append("expired")
    if problems:
        print("; ".join(problems), file=sys.stderr)
        return 1
    print(json.dumps(claims))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # noqa: BLE001 - any failure is a verification failure
        print(f"verification failed: {e}", file=sys.stderr)
        sys.exit(1)
