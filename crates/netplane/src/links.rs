//! Small netlink helpers shared by the overlay, endpoint and sweep code.

use futures::TryStreamExt;
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};

use crate::error::{Error, Result};

/// ENODEV / ENOENT / ESRCH: what the kernel answers for a link, neighbour or route that is not there.
pub(crate) fn is_missing(error: &Error) -> bool {
    matches!(
        error.errno(),
        Some(nix::libc::ENODEV | nix::libc::ENOENT | nix::libc::ESRCH)
    )
}

/// The link named `name`, if there is one.
pub(crate) async fn by_name(handle: &rtnetlink::Handle, name: &str) -> Result<Option<LinkMessage>> {
    let found = handle
        .link()
        .get()
        .match_name(name.to_owned())
        .execute()
        .try_next()
        .await;
    match found.map_err(|source| Error::netlink(format!("look up link {name}"), source)) {
        Ok(link) => Ok(link),
        Err(error) if is_missing(&error) => Ok(None),
        Err(error) => Err(error),
    }
}

/// The index of the link named `name`, if there is one.
pub(crate) async fn index(handle: &rtnetlink::Handle, name: &str) -> Result<Option<u32>> {
    Ok(by_name(handle, name).await?.map(|link| link.header.index))
}

/// Every link of the namespace.
pub(crate) async fn all(handle: &rtnetlink::Handle) -> Result<Vec<LinkMessage>> {
    handle
        .link()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|source| Error::netlink("list links", source))
}

/// A link's name.
pub(crate) fn name(link: &LinkMessage) -> Option<&str> {
    link.attributes.iter().find_map(|attribute| match attribute {
        LinkAttribute::IfName(name) => Some(name.as_str()),
        _ => None,
    })
}

/// A link's alias.
pub(crate) fn alias(link: &LinkMessage) -> Option<&str> {
    link.attributes.iter().find_map(|attribute| match attribute {
        LinkAttribute::IfAlias(alias) => Some(alias.as_str()),
        _ => None,
    })
}

/// A link's MTU.
pub(crate) fn mtu(link: &LinkMessage) -> Option<u32> {
    link.attributes.iter().find_map(|attribute| match attribute {
        LinkAttribute::Mtu(mtu) => Some(*mtu),
        _ => None,
    })
}

/// Deletes the link with `index`; one already gone is not an error.
pub(crate) async fn delete(handle: &rtnetlink::Handle, index: u32, what: &str) -> Result<()> {
    match handle.link().del(index).execute().await {
        Ok(()) => Ok(()),
        Err(source) => {
            let error = Error::netlink(format!("delete {what}"), source);
            if is_missing(&error) { Ok(()) } else { Err(error) }
        }
    }
}

/// Deletes the link named `name` if it exists.
pub(crate) async fn delete_named(handle: &rtnetlink::Handle, name: &str) -> Result<bool> {
    match index(handle, name).await? {
        Some(index) => delete(handle, index, name).await.map(|()| true),
        None => Ok(false),
    }
}

/// Sets the link with `index` up.
pub(crate) async fn up(handle: &rtnetlink::Handle, index: u32, what: &str) -> Result<()> {
    handle
        .link()
        .set(rtnetlink::LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(|source| Error::netlink(format!("set {what} up"), source))
}
