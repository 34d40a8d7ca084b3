# SPDX-License-Identifier: MIT
"""AWS Signature Version 4 for S3, in Python alone (hashlib/hmac): the tests' own.

Written from AWS's description ("Signature Calculations for the Authorization
Header: Transferring Payload in a Single Chunk",
https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html)
and checked against that page's published examples
(tests/e2e/test_s3_front.py), independently of lethe's C signer
(src/media/media_sigv4.c): tests/s3_front.py verifies what lethe sends with
verify(); the tests' own client (tests/s3_server.py S3Client) and bench/media
sign with sign().

    canonical request = METHOD \\n CanonicalURI \\n CanonicalQuery \\n
                        CanonicalHeaders \\n SignedHeaders \\n HashedPayload
    string to sign    = "AWS4-HMAC-SHA256" \\n X-Amz-Date \\n SCOPE \\n hex(SHA256(canonical))
    signing key       = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), "s3"),
                             "aws4_request")

The canonical URI is the path URI-encoded once per segment ('/' kept, S3 does
not normalize it); the canonical query is every name=value pair URI-encoded
('/' too), sorted by name then value, "name=" for an empty value.
"""
import hashlib
import hmac
import re
import urllib.parse

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "s3"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256 +Credential=([^,\s]+) *, *SignedHeaders=([^,\s]+) *, *"
    r"Signature=([0-9a-f]{64})$")


def uri_encode(text, keep_slash=False):
    """AWS's UriEncode: every byte outside A-Za-z0-9-_.~ as %XX (upper case hex);
    '/' kept when @keep_slash (object key names in the path)."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    out = []
    for b in raw:
        if b in _UNRESERVED or (keep_slash and b == 0x2F):
            out.append(chr(b))
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def canonical_uri(raw_path):
    """The canonical URI of a request line's path (as sent: percent-encoded).  The
    path is decoded once and encoded again the canonical way, so a client that sent
    a byte unencoded (or encoded in lower case) must still have signed it encoded."""
    decoded = urllib.parse.unquote_to_bytes(raw_path or "/")
    return uri_encode(decoded, keep_slash=True)


def parse_query(raw_query):
    """[(name, value)] decoded from a raw query string ('+' is a plus, not a space:
    S3's SigV4 clients send %20)."""
    pairs = []
    if not raw_query:
        return pairs
    for piece in raw_query.split("&"):
        if piece == "":
            continue
        name, _, value = piece.partition("=")
        pairs.append((urllib.parse.unquote_to_bytes(name), urllib.parse.unquote_to_bytes(value)))
    return pairs


def canonical_query(raw_query):
    enc = sorted((uri_encode(n), uri_encode(v)) for n, v in parse_query(raw_query))
    return "&".join("%s=%s" % p for p in enc)


def _trim(value):
    return " ".join(value.strip().split())


def canonical_headers(headers, signed):
    """headers: {lower-case name: value}; signed: the sorted list of names."""
    return "".join("%s:%s\n" % (n, _trim(headers.get(n, ""))) for n in signed)


def canonical_request(method, raw_path, raw_query, headers, signed, payload_hash):
    return "\n".join([method, canonical_uri(raw_path), canonical_query(raw_query),
                      canonical_headers(headers, signed), ";".join(signed), payload_hash])


def signing_key(secret, date, region, service=SERVICE):
    k = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def string_to_sign(amz_date, scope, creq):
    return "\n".join([ALGORITHM, amz_date, scope,
                      hashlib.sha256(creq.encode("utf-8")).hexdigest()])


def signature(secret, region, amz_date, creq):
    scope = "%s/%s/%s/aws4_request" % (amz_date[:8], region, SERVICE)
    key = signing_key(secret, amz_date[:8], region)
    return hmac.new(key, string_to_sign(amz_date, scope, creq).encode(),
                    hashlib.sha256).hexdigest()


def sign(method, raw_path, raw_query, headers, body, access_key, secret, region, amz_date,
         token=None):
    """Add x-amz-date, x-amz-content-sha256 (and x-amz-security-token) to @headers (a
    dict of lower-case names, host included) and return the Authorization value.  Every
    header given is signed."""
    headers["x-amz-date"] = amz_date
    headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    if token:
        headers["x-amz-security-token"] = token
    signed = sorted(headers)
    creq = canonical_request(method, raw_path, raw_query, headers, signed,
                             headers["x-amz-content-sha256"])
    sig = signature(secret, region, amz_date, creq)
    return "%s Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s" % (
        ALGORITHM, access_key, amz_date[:8], region, SERVICE, ";".join(signed), sig)


class VerifyError(Exception):
    """A request S3 would refuse: status, S3's error code and message."""

    def __init__(self, status, code, message):
        super().__init__("%d %s: %s" % (status, code, message))
        self.status = status
        self.code = code
        self.message = message


def parse_authorization(value):
    """(access key, date, region, service, [signed headers], signature) or VerifyError."""
    m = _AUTH_RE.match(value or "")
    if not m:
        raise VerifyError(400, "AuthorizationHeaderMalformed",
                          "the Authorization header is not AWS4-HMAC-SHA256 Credential=..., "
                          "SignedHeaders=..., Signature=...")
    cred, signed, sig = m.groups()
    parts = cred.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise VerifyError(400, "AuthorizationHeaderMalformed",
                          "the credential is not KEY/DATE/REGION/SERVICE/aws4_request")
    names = signed.split(";")
    if names != sorted(names) or len(set(names)) != len(names) or \
            any(n != n.lower() or not n for n in names):
        raise VerifyError(400, "AuthorizationHeaderMalformed",
                          "SignedHeaders must be lower case, sorted, without repeats")
    return parts[0], parts[1], parts[2], parts[3], names, sig


def verify(method, raw_path, raw_query, headers, body, secrets, region, now_amz_date=None,
           max_skew_s=900):
    """Verify a request's SigV4 signature as S3 does; returns the access key id.

    @headers: {lower-case name: value} as received; @body: the bytes received;
    @secrets: {access key id: secret}; @region: the region the server is in;
    @now_amz_date: the current time as YYYYMMDDTHHMMSSZ (None: skip the clock check,
    for AWS's published examples).  Raises VerifyError with S3's error code."""
    access_key, date, cred_region, service, signed, sig = \
        parse_authorization(headers.get("authorization"))
    if access_key not in secrets:
        raise VerifyError(403, "InvalidAccessKeyId",
                          "The AWS Access Key Id you provided does not exist in our records.")
    amz_date = headers.get("x-amz-date", "")
    if not re.match(r"^\d{8}T\d{6}Z$", amz_date):
        raise VerifyError(403, "AccessDenied", "x-amz-date is missing or not YYYYMMDDTHHMMSSZ")
    if date != amz_date[:8]:
        raise VerifyError(403, "SignatureDoesNotMatch",
                          "the credential's date is not x-amz-date's")
    if cred_region != region or service != SERVICE:
        raise VerifyError(400, "AuthorizationHeaderMalformed",
                          "the region '%s' is wrong; expecting '%s'" % (cred_region, region))
    for need in ("host", "x-amz-date", "x-amz-content-sha256"):
        if need not in signed:
            raise VerifyError(403, "AccessDenied",
                              "the header %s must be signed" % need)
    for name in headers:
        if (name.startswith("x-amz-") or name == "content-md5") and name not in signed:
            raise VerifyError(403, "AccessDenied",
                              "there were headers present in the request which were not "
                              "signed: %s" % name)
    payload = headers.get("x-amz-content-sha256", "")
    if payload != hashlib.sha256(body).hexdigest():
        raise VerifyError(400, "XAmzContentSHA256Mismatch",
                          "The provided 'x-amz-content-sha256' header does not match what "
                          "was computed.")
    if now_amz_date is not None and abs(_epoch(now_amz_date) - _epoch(amz_date)) > max_skew_s:
        raise VerifyError(403, "RequestTimeTooSkewed",
                          "The difference between the request time and the current time "
                          "is too large.")
    creq = canonical_request(method, raw_path, raw_query, headers, signed, payload)
    want = signature(secrets[access_key], region, amz_date, creq)
    if not hmac.compare_digest(want, sig):
        raise VerifyError(403, "SignatureDoesNotMatch",
                          "The request signature we calculated does not match the signature "
                          "you provided. Check your key and signing method.")
    return access_key


def _epoch(amz_date):
    import calendar
    import time
    return calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))


def amz_date_now():
    import time
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
