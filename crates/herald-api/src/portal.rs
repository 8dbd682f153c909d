//! `/v1/tenants/{tenant}/portal-sessions`: one-time links into a tenant's pages of the web
//! interface.

use herald_core::Timestamp;
use herald_core::duration::HumanDuration;
use herald_core::portal::{AccentColor, BrandName, Branding, LogoUrl};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortalSessionIn {
    /// How the portal presents itself; absent: as Herald.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branding: Option<BrandingIn>,
    /// How long the link may be opened: 1m to 1h (default 10m). It opens once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<HumanDuration>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BrandingIn {
    /// Shown instead of "Herald" in the header and the page titles.
    pub name: BrandName,
    /// A logo shown before the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<LogoUrl>,
    /// The colour of links, buttons and the current tab; absent: Herald's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accent_color: Option<AccentColor>,
}

impl From<BrandingIn> for Branding {
    fn from(b: BrandingIn) -> Self {
        Branding { name: b.name, logo_url: b.logo_url, accent_color: b.accent_color }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortalSessionOut {
    /// The one-time link (`…/ui/portal/hp_…`): shown only in this response. Its first opening
    /// starts a session of the tenant's pages only, and sends the browser on to them.
    pub url: String,
    /// Until when the link may be opened.
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}
