//! Web interface sessions: opened at sign-in or from a portal link (expired ones are swept
//! then), read on every page, deleted at sign-out. And portal links: stored when the API creates
//! one, used up by their one opening.

use herald_core::Timestamp;
use herald_core::api_key::KeyHash;
use herald_core::portal::PortalLink;
use herald_core::session::{Session, Viewer};

use crate::dialect::{DbOf, Dialect, for_each_backend};
use crate::rows::{PortalLinkRow, SessionRow, branding_columns, columns, millis};
use crate::{PortalOpening, Result};

for_each_backend! {
    pub(crate) async fn insert_ui_session(&self, session: &Session, now: Timestamp) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        Self::insert_session_in(&mut tx, session, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores `session` inside the caller's transaction, and forgets those expired by `now`.
    async fn insert_session_in(
        tx: &mut sqlx::Transaction<'_, DbOf<Self>>,
        session: &Session,
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query("DELETE FROM ui_sessions WHERE expires_at <= $1")
            .bind(millis(now))
            .execute(&mut **tx)
            .await?;
        let (brand_name, brand_logo_url, brand_accent_color) = branding_columns(session.branding.as_ref());
        sqlx::query(concat!(
            "INSERT INTO ui_sessions (", columns!(ui_sessions), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(session.hash.as_str())
        .bind(session.viewer.tenant().map(|t| t.as_str()))
        .bind(session.viewer.key().map(|k| k.as_str()))
        .bind(brand_name)
        .bind(brand_logo_url)
        .bind(brand_accent_color)
        .bind(millis(session.created_at))
        .bind(millis(session.expires_at))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The session whose token hashes to `hash`, unless it has expired by `now`.
    pub(crate) async fn ui_session(&self, hash: &KeyHash, now: Timestamp) -> Result<Option<Session>> {
        let row = sqlx::query_as::<_, SessionRow>(concat!(
            "SELECT ", columns!(ui_sessions), " FROM ui_sessions WHERE token_hash = $1 AND expires_at > $2"
        ))
        .bind(hash.as_str())
        .bind(millis(now))
        .fetch_optional(self.reader())
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    pub(crate) async fn delete_ui_session(&self, hash: &KeyHash) -> Result<bool> {
        let done = sqlx::query("DELETE FROM ui_sessions WHERE token_hash = $1")
            .bind(hash.as_str())
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn insert_portal_link(
        &self,
        link: &PortalLink,
        expired_before: Timestamp,
    ) -> Result<()> {
        let mut tx = self.writer().begin().await?;
        sqlx::query("DELETE FROM ui_portal_links WHERE expires_at <= $1")
            .bind(millis(expired_before))
            .execute(&mut *tx)
            .await?;
        let (brand_name, brand_logo_url, brand_accent_color) =
            branding_columns(link.branding.as_ref());
        sqlx::query(
            "INSERT INTO ui_portal_links
                 (token_hash, tenant_id, brand_name, brand_logo_url, brand_accent_color, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(link.hash.as_str())
        .bind(link.tenant.as_str())
        .bind(brand_name)
        .bind(brand_logo_url)
        .bind(brand_accent_color)
        .bind(millis(link.created_at))
        .bind(millis(link.expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Uses up the link and opens the session in one transaction: the link is marked used only
    /// if it was unused and unexpired (a concurrent opening waits for this one's row lock, then
    /// finds it used), and a link is never used up without its session.
    pub(crate) async fn open_portal_link(
        &self,
        link: &KeyHash,
        session: &KeyHash,
        session_expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<PortalOpening> {
        let mut tx = self.writer().begin().await?;
        let taken = sqlx::query_as::<_, PortalLinkRow>(
            "UPDATE ui_portal_links SET used_at = $2
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
             RETURNING tenant_id, brand_name, brand_logo_url, brand_accent_color",
        )
        .bind(link.as_str())
        .bind(millis(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(taken) = taken else {
            let found: Option<(Option<i64>,)> =
                sqlx::query_as("SELECT used_at FROM ui_portal_links WHERE token_hash = $1")
                    .bind(link.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            tx.rollback().await?;
            return Ok(match found {
                None => PortalOpening::Unknown,
                Some((Some(_),)) => PortalOpening::Used,
                Some((None,)) => PortalOpening::Expired,
            });
        };
        let (tenant, branding) = taken.into_parts()?;
        let session = Session {
            hash: session.clone(),
            viewer: Viewer::Tenant { tenant, key: None },
            branding,
            created_at: now,
            expires_at: session_expires_at,
        };
        Self::insert_session_in(&mut tx, &session, now).await?;
        tx.commit().await?;
        Ok(PortalOpening::Opened(session))
    }
}
