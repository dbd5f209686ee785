//! The image calls on this node's store (`daemon/images.rs`), each followed by its image event.

use crate::daemon::swarm::Swarm;

/// `POST /images/create?fromImage=`.
pub(super) async fn pull(
    s: &Swarm,
    reference: &str,
    creds: image::Credentials,
    mut progress: api::ImageProgress,
) -> image::Result<image::Pulled> {
    let pulled = s
        .image_store()?
        .pull(reference, &creds, None, &mut *progress)
        .await?;
    // dockerd names a pull by the reference it pulled.
    let familiar = api::convert::image::familiar(reference);
    s.events.image("pull", &familiar, Some(reference));
    Ok(pulled)
}

/// `POST /images/create?fromSrc=-`.
pub(super) async fn import(
    s: &Swarm,
    body: api::ImageUpload,
    reference: Option<String>,
) -> image::Result<image::Digest> {
    let created = Some(s.import_time());
    let id = s
        .image_store()?
        .import(body, reference.as_deref(), image::RunConfig::default(), created)
        .await?;
    s.events.image("import", id.as_str(), reference.as_deref());
    Ok(id)
}

/// `POST /images/load`.
pub(super) async fn load(s: &Swarm, body: api::ImageUpload) -> image::Result<Vec<image::Loaded>> {
    let loaded = s.image_store()?.load(body).await?;
    for image in &loaded {
        let name = image.tags.first().map(String::as_str);
        s.events.image("load", image.id.as_str(), name);
    }
    Ok(loaded)
}

/// `POST /images/{name}/tag`.
pub(super) async fn tag(s: &Swarm, source: &str, target: &str) -> image::Result<()> {
    let store = s.image_store()?;
    store.tag(source, target)?;
    let id = store.inspect(target).map(|d| d.record.id.to_string());
    s.events
        .image("tag", id.as_deref().unwrap_or(source), Some(target));
    Ok(())
}

/// `DELETE /images/{name}`.
pub(super) async fn remove(s: &Swarm, name: &str, force: bool) -> image::Result<Vec<image::Removed>> {
    let id = s
        .image_store()?
        .inspect(name)
        .map(|d| d.record.id.to_string())
        .ok();
    let removed = s.image_remove_checked(name, force).await?;
    s.events.image_removals(&removed, id.as_deref());
    Ok(removed)
}

/// `POST /images/prune`.
pub(super) async fn prune(s: &Swarm, all: bool) -> image::Result<(Vec<image::Removed>, image::GcReport)> {
    let (removed, report) = s.image_prune_unused(all).await?;
    s.events.image_removals(&removed, None);
    Ok((removed, report))
}

/// How many of this node's tasks use each image.
pub(super) async fn used(s: &Swarm) -> image::Result<std::collections::HashMap<image::Digest, usize>> {
    s.image_store()?;
    let used = s.images_in_use().await;
    Ok(used.into_iter().map(|(id, tasks)| (id, tasks.len())).collect())
}
