//! Reading an Espo installation: its metadata's categories (JSON files).

use std::path::Path;

use super::categories::Categories;

/// The `app/webSocket.json` metadata files of an installation, in Espo's merge order: the core,
/// then modules, then `custom/`.
fn metadata_files(root: &Path) -> Vec<std::path::PathBuf> {
    let mut files = vec![root.join("application/Espo/Resources/metadata/app/webSocket.json")];
    for modules in ["application/Espo/Modules", "custom/Espo/Modules"] {
        if let Ok(entries) = std::fs::read_dir(root.join(modules)) {
            let mut names: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            names.sort();
            files.extend(
                names
                    .into_iter()
                    .map(|m| m.join("Resources/metadata/app/webSocket.json")),
            );
        }
    }
    files.push(root.join("custom/Espo/Custom/Resources/metadata/app/webSocket.json"));
    files
}

/// Adds the categories declared in the installation's metadata to `categories`. Missing files
/// are normal; a file that exists but is not valid is an error naming it.
pub fn merge_metadata(root: &Path, categories: &mut Categories) -> Result<(), String> {
    for file in metadata_files(root) {
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(format!("{} cannot be read: {err}", file.display())),
        };
        let document: serde_json::Value = serde_json::from_str(&text)
            .map_err(|err| format!("{} is not valid JSON: {err}", file.display()))?;
        categories
            .merge_metadata(&document)
            .map_err(|why| format!("{}: {why}", file.display()))?;
    }
    Ok(())
}
