//! Images: a pull's progress and an upload's body.

/// A pull's progress sink: the handler streams each line to the client as it comes.
pub type ImageProgress = Box<dyn FnMut(image::Progress) + Send>;

/// An upload body (`docker import`, `docker load`), read as it arrives, never buffered whole.
pub type ImageUpload = Box<dyn tokio::io::AsyncRead + Send + Unpin>;
