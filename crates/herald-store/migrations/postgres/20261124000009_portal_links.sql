-- The embeddable tenant portal. A portal link opens one tenant's pages once, without a key: the
-- link's URL holds a random token, only its SHA-256 is kept. used_at is set by the one opening
-- (NULL: not opened yet); used and expired rows stay a while so a second opening can be told
-- apart from a link that never existed. brand_*: how the portal presents itself (brand_name
-- NULL: as Herald). Times are Unix milliseconds.
CREATE TABLE ui_portal_links (
    token_hash          TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    brand_name          TEXT,
    brand_logo_url      TEXT,
    brand_accent_color  TEXT,
    created_at          BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL,
    used_at             BIGINT
);
CREATE INDEX ui_portal_links_by_expiry ON ui_portal_links (expires_at);

-- The session a portal link opened carries the link's branding.
ALTER TABLE ui_sessions ADD COLUMN brand_name TEXT;
ALTER TABLE ui_sessions ADD COLUMN brand_logo_url TEXT;
ALTER TABLE ui_sessions ADD COLUMN brand_accent_color TEXT;
