//! Espo's topic categories: which topics exist, which parameters their names carry and which
//! access check a subscription needs.
//!
//! Espo declares categories in metadata (`app.webSocket.categories`): a topic is allowed when it,
//! or its first dot-component, is a category (`Pusher::isTopicAllowed`). A category may list
//! parameters (`paramList`), taken from the topic's following components, and an
//! `accessCheckCommand` (arguments to `php command.php`) with `:userId` and those parameters as
//! placeholders. The core and Crm categories are built in; extensions add their own in their
//! metadata, which [`Categories::merge_metadata`] reads.

use serde_json::Value as Json;

/// One category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// The category name (`recordUpdate`, `popupNotifications.event`).
    pub name: String,
    /// Names of the parameters the topic's further components carry, in order.
    pub params: Vec<String>,
    /// The access check's `command.php` arguments, with `:placeholders`; `None` = no check.
    pub check: Option<String>,
}

/// The set of categories, in declaration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Categories(Vec<Category>);

/// Espo's core and Crm categories (`Resources/metadata/app/webSocket.json` of both).
const CORE: &[(&str, &[&str], Option<&str>)] = &[
    ("newNotification", &[], None),
    ("appParamsUpdate", &[], None),
    (
        "recordUpdate",
        &["scope", "id"],
        Some("AclCheck --userId=:userId --scope=:scope --id=:id --action=read"),
    ),
    (
        "streamUpdate",
        &["scope", "id"],
        Some("AclCheck --userId=:userId --scope=:scope --id=:id --action=stream"),
    ),
    ("popupNotifications.event", &[], None),
    (
        "calendarUpdate",
        &[],
        Some("AclCheck --userId=:userId --scope=Calendar"),
    ),
];

impl Default for Categories {
    fn default() -> Categories {
        Categories(
            CORE.iter()
                .map(|(name, params, check)| Category {
                    name: (*name).to_owned(),
                    params: params.iter().map(|p| (*p).to_owned()).collect(),
                    check: check.map(str::to_owned),
                })
                .collect(),
        )
    }
}

impl Categories {
    /// The category `topic` belongs to: its first component's, else the whole topic's, as
    /// Espo's `Pusher::getCategoryData` looks them up. `None` = the topic is not allowed.
    pub fn find(&self, topic: &str) -> Option<&Category> {
        let first = topic.split('.').next().unwrap_or(topic);
        self.get(first).or_else(|| self.get(topic))
    }

    fn get(&self, name: &str) -> Option<&Category> {
        self.0.iter().find(|c| c.name == name)
    }

    /// The categories, in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = &Category> {
        self.0.iter()
    }

    /// The categories' names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|c| c.name.as_str())
    }

    /// Adds (or replaces) the categories of one metadata document, the content of an
    /// `app/webSocket.json` file: `{"categories": {"name": {"paramList": [...],
    /// "accessCheckCommand": "..."}}}`. The `Err` says what is wrong with it.
    pub fn merge_metadata(&mut self, document: &Json) -> Result<(), String> {
        let Some(categories) = document.get("categories") else {
            return Ok(());
        };
        let Json::Object(categories) = categories else {
            return Err("\"categories\" is not an object".into());
        };
        for (name, data) in categories {
            if name.is_empty() || name.len() > 128 {
                return Err(format!("category name {name:?} is empty or too long"));
            }
            let params = match data.get("paramList") {
                None | Some(Json::Null) => Vec::new(),
                Some(Json::Array(list)) => list
                    .iter()
                    .map(|p| p.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| format!("category {name}: paramList holds a non-string"))?,
                Some(_) => return Err(format!("category {name}: paramList is not a list")),
            };
            let check = match data.get("accessCheckCommand") {
                None | Some(Json::Null) => None,
                Some(Json::String(c)) => Some(c.clone()),
                Some(_) => {
                    return Err(format!(
                        "category {name}: accessCheckCommand is not a string"
                    ))
                }
            };
            let category = Category {
                name: name.clone(),
                params,
                check,
            };
            match self.0.iter_mut().find(|c| c.name == *name) {
                Some(existing) => *existing = category,
                None => self.0.push(category),
            }
        }
        Ok(())
    }
}

impl Category {
    /// The values of this category's parameters in `topic`: component `i + 1` for parameter
    /// `i`, empty when the topic is shorter (Espo's `getParamsFromTopicId`).
    pub fn values<'t>(&self, topic: &'t str) -> Vec<(&str, &'t str)> {
        let parts: Vec<&str> = topic.split('.').collect();
        self.params
            .iter()
            .enumerate()
            .map(|(i, name)| (name.as_str(), parts.get(i + 1).copied().unwrap_or("")))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_allowed_by_their_first_component_or_whole_name() {
        let c = Categories::default();
        assert_eq!(
            c.find("recordUpdate.Account.5f1").map(|c| c.name.as_str()),
            Some("recordUpdate")
        );
        assert_eq!(
            c.find("newNotification").map(|c| c.name.as_str()),
            Some("newNotification")
        );
        assert_eq!(
            c.find("popupNotifications.event").map(|c| c.name.as_str()),
            Some("popupNotifications.event")
        );
        assert!(c.find("popupNotifications.other").is_none());
        assert!(c.find("com.example.anything").is_none());
        assert!(c.find("").is_none());
    }

    #[test]
    fn parameters_come_from_the_following_components() {
        let c = Categories::default();
        let record = c.find("recordUpdate.Account.5f1").expect("category");
        assert_eq!(
            record.values("recordUpdate.Account.5f1"),
            vec![("scope", "Account"), ("id", "5f1")]
        );
        assert_eq!(
            record.values("recordUpdate.Account"),
            vec![("scope", "Account"), ("id", "")]
        );
    }

    #[test]
    fn metadata_adds_and_replaces_categories() {
        let mut c = Categories::default();
        let doc = serde_json::json!({"categories": {
            "myUpdate": {"paramList": ["id"], "accessCheckCommand": "MyCheck :userId :id"},
            "newNotification": {"accessCheckCommand": "Strict :userId"}
        }});
        c.merge_metadata(&doc).expect("valid");
        let mine = c.find("myUpdate.7").expect("added");
        assert_eq!(mine.check.as_deref(), Some("MyCheck :userId :id"));
        assert_eq!(
            c.find("newNotification").and_then(|c| c.check.as_deref()),
            Some("Strict :userId")
        );
        assert!(c
            .merge_metadata(&serde_json::json!({"categories": {"x": {"paramList": "id"}}}))
            .is_err());
        assert!(c.merge_metadata(&serde_json::json!({"other": 1})).is_ok());
    }
}
