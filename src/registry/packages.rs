//! GHCR through GitHub's Packages API (octocrab): GHCR answers the registry's manifest DELETE
//! with 405, so a version (one manifest digest, with every tag on it) is listed and deleted
//! here (docs.github.com/rest/packages/packages). Versions belong to an organization or a
//! user; the organization is tried first.

use octocrab::Octocrab;
use octocrab::models::packages::PackageType;
use time::OffsetDateTime;

/// One package version: its id, digest, tags and when it was last written.
#[derive(Debug, Clone)]
pub struct Version {
    pub id: u64,
    pub digest: String,
    pub tags: Vec<String>,
    pub updated: OffsetDateTime,
}

/// Where the package lives: `ghcr.io/<owner>/<package…>`.
pub struct Package<'c> {
    client: &'c Octocrab,
    owner: String,
    name: String,
    /// Set once listing found the package under a user rather than an organization.
    is_user: bool,
}

/// What a refused deletion means.
pub enum Refusal {
    /// GitHub keeps it: the last tagged version, or a public one over 5,000 downloads (400).
    Kept(String),
    Failed(String),
}

fn describe(route: &str, e: octocrab::Error) -> (u16, String) {
    match e {
        octocrab::Error::GitHub { source, .. } => (
            source.status_code.as_u16(),
            format!(
                "{route} answered {}: {}",
                source.status_code, source.message
            ),
        ),
        other => (0, format!("{route} failed: {}", super::error_chain(&other))),
    }
}

impl<'c> Package<'c> {
    pub fn new(client: &'c Octocrab, owner: &str, name: &str) -> Self {
        Package {
            client,
            owner: owner.to_owned(),
            name: name.to_owned(),
            is_user: false,
        }
    }

    fn handler(&self) -> octocrab::packages::PackagesHandler<'c> {
        let packages = self.client.packages();
        if self.is_user {
            packages.user(&self.owner)
        } else {
            packages.org(&self.owner)
        }
    }

    fn route(&self) -> String {
        let owner = if self.is_user { "users" } else { "orgs" };
        format!(
            "/{owner}/{}/packages/container/{}/versions",
            self.owner, self.name
        )
    }

    /// Every version, all pages (octocrab follows `Link`).
    pub async fn versions(&mut self) -> Result<Vec<Version>, String> {
        let first = match self.list_first_page().await {
            Err((404, _)) if !self.is_user => {
                self.is_user = true;
                self.list_first_page().await
            }
            other => other,
        };
        let first = first.map_err(|(status, message)| match status {
            403 => format!("{message}; the token needs read:packages (and packages: write or delete:packages to delete)"),
            404 => format!("{message}; no container package {} under the organization or user {}", self.name, self.owner),
            _ => message,
        })?;
        let all = self
            .client
            .all_pages(first)
            .await
            .map_err(|e| describe(&self.route(), e).1)?;
        Ok(all
            .into_iter()
            .map(|v| Version {
                id: v.id.0,
                digest: v.name,
                tags: v
                    .metadata
                    .and_then(|m| m.container)
                    .map(|c| c.tags)
                    .unwrap_or_default(),
                updated: OffsetDateTime::from_unix_timestamp(v.updated_at.timestamp())
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            })
            .collect())
    }

    async fn list_first_page(
        &self,
    ) -> Result<octocrab::Page<octocrab::models::packages::PackageVersion>, (u16, String)> {
        self.handler()
            .list_versions(PackageType::Container, &self.name)
            .per_page(100u8)
            .send()
            .await
            .map_err(|e| describe(&self.route(), e))
    }

    pub async fn delete(&self, version: u64) -> Result<(), Refusal> {
        let route = format!("DELETE {}/{version}", self.route());
        self.handler()
            .delete_version(PackageType::Container, &self.name, version)
            .await
            .map_err(|e| match describe(&route, e) {
                (400, message) => Refusal::Kept(format!(
                    "GitHub refuses to delete it (the package's last tagged version, or a public version over 5,000 downloads): {message}"
                )),
                (403, message) => Refusal::Failed(format!(
                    "{message}; the token needs packages: write and admin access to the package (GITHUB_TOKEN), or delete:packages (a classic token)"
                )),
                (_, message) => Refusal::Failed(message),
            })
    }
}
