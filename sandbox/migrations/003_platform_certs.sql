-- WeChat Pay platform certificates (platform-certificate mode): the
-- newest signs when the sandbox signs in that mode; every one not yet
-- expired is served by GET /v3/certificates. A rotation adds a row.
CREATE TABLE sandbox_platform_certs (
    serial     TEXT PRIMARY KEY,  -- upper-case hex, as WeChat Pay writes it
    key_pem    TEXT NOT NULL,     -- PKCS#8 PEM, the certificate's private key
    cert_pem   TEXT NOT NULL,     -- the certificate, PEM
    not_before TEXT NOT NULL,
    not_after  TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
