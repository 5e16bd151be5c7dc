//! Signed checkpoints of the audit log: the C2SP `tlog-checkpoint` text in a C2SP
//! `signed-note`, signed with Ed25519.
//!
//! ```text
//! dayops.example/council-audit      <- origin: names the deployment
//! 1042                              <- tree size
//! CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=   <- root hash, base64
//!
//! — dayops.example/council-audit <base64(key id || signature)>
//! ```
//!
//! Keys are written as Go's `golang.org/x/mod/sumdb/note` writes them, so its tools and
//! ours read each other's: `PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || seed)>` and
//! the verifier key `<name>+<key id hex>+<base64(0x01 || public key)>`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::tlog::Hash;

/// The signature type byte C2SP `signed-note` assigns to Ed25519.
const ED25519: u8 = 0x01;
const EM_DASH: &str = "\u{2014}";

/// Why a key or a note was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed key: {0}")]
    Key(&'static str),
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("the note carries no signature by {0} that verifies")]
    Unverified(String),
    #[error("malformed checkpoint: {0}")]
    Checkpoint(&'static str),
}

/// A tree head: what a checkpoint says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    /// The note text (`tlog-checkpoint`), ending in a newline.
    pub fn text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Reads a checkpoint's note text (extension lines are allowed and ignored).
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let mut lines = text
            .strip_suffix('\n')
            .ok_or(NoteError::Checkpoint("no final newline"))?
            .split('\n');
        let origin = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or(NoteError::Checkpoint("no origin"))?;
        let size = lines.next().ok_or(NoteError::Checkpoint("no tree size"))?;
        if size.is_empty() || (size.len() > 1 && size.starts_with('0')) {
            return Err(NoteError::Checkpoint(
                "the tree size is not a plain decimal",
            ));
        }
        let size = size
            .parse()
            .map_err(|_| NoteError::Checkpoint("the tree size is not a number"))?;
        let root = lines.next().ok_or(NoteError::Checkpoint("no root hash"))?;
        let root: Hash = B64
            .decode(root)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or(NoteError::Checkpoint(
                "the root hash is not 32 bytes of base64",
            ))?;
        if lines.any(str::is_empty) {
            return Err(NoteError::Checkpoint("an empty extension line"));
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        })
    }
}

/// `SHA-256(name || 0x0A || 0x01 || public key)[:4]`.
fn key_id(name: &str, public: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ED25519]);
    h.update(public.as_bytes());
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('+') && !name.chars().any(char::is_whitespace)
}

/// The log's signing key.
pub struct LogSigner {
    name: String,
    key: SigningKey,
}

impl std::fmt::Debug for LogSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogSigner({})", self.name)
    }
}

impl LogSigner {
    /// A new key named `name` (the log's origin) from 32 random bytes.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::Key(
                "a key name is non-empty, without spaces or '+'",
            ));
        }
        Ok(LogSigner {
            name: name.to_string(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Reads `PRIVATE+KEY+<name>+<id>+<base64(0x01 || seed)>`.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let rest = text
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::Key("a signing key starts PRIVATE+KEY+"))?;
        let (name, id, key) = split_key(rest)?;
        let seed: [u8; 32] = key
            .try_into()
            .map_err(|_| NoteError::Key("not an Ed25519 seed"))?;
        let signer = LogSigner::from_seed(name, seed)?;
        if key_id(name, &signer.key.verifying_key()) != id {
            return Err(NoteError::Key("the key id does not match the key"));
        }
        Ok(signer)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The private key as written to a file.
    pub fn encode(&self) -> String {
        let public = self.key.verifying_key();
        format!(
            "PRIVATE+KEY+{}",
            join_key(&self.name, &public, self.key.as_bytes())
        )
    }

    /// The verifier key to publish.
    pub fn verifier(&self) -> LogVerifier {
        LogVerifier {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// The checkpoint as a signed note.
    pub fn sign(&self, checkpoint: &Checkpoint) -> String {
        self.sign_text(&checkpoint.text())
    }

    /// Any note text (ending in a newline) as a signed note.
    pub fn sign_text(&self, text: &str) -> String {
        let signature = self.key.sign(text.as_bytes());
        let mut blob = key_id(&self.name, &self.key.verifying_key()).to_vec();
        blob.extend_from_slice(&signature.to_bytes());
        format!("{text}\n{EM_DASH} {} {}\n", self.name, B64.encode(blob))
    }
}

/// `<name>+<id hex>+<base64(0x01 || key)>`, the id that of `public` (the key written is
/// `public` itself, or the seed of a signing key): the inverse of [`split_key`].
fn join_key(name: &str, public: &VerifyingKey, key: &[u8; 32]) -> String {
    let mut typed = vec![ED25519];
    typed.extend_from_slice(key);
    format!(
        "{name}+{}+{}",
        hex::encode(key_id(name, public)),
        B64.encode(typed)
    )
}

/// `<name>+<id hex>+<base64 key>` into its parts, the key without its type byte.
fn split_key(text: &str) -> Result<(&str, [u8; 4], Vec<u8>), NoteError> {
    // The key's base64 may itself hold '+': it is everything after the second one.
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(NoteError::Key("expected name+id+key"));
    };
    if !valid_name(name) {
        return Err(NoteError::Key(
            "a key name is non-empty, without spaces or '+'",
        ));
    }
    let id: [u8; 4] = hex::decode(id)
        .ok()
        .and_then(|id| id.try_into().ok())
        .ok_or(NoteError::Key("the key id is 8 hex digits"))?;
    let key = B64
        .decode(key)
        .map_err(|_| NoteError::Key("the key is not base64"))?;
    match key.split_first() {
        Some((&ED25519, key)) => Ok((name, id, key.to_vec())),
        _ => Err(NoteError::Key("not an Ed25519 key")),
    }
}

/// A log's public key: checks checkpoints without any access to the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogVerifier {
    name: String,
    key: VerifyingKey,
}

impl LogVerifier {
    /// Reads `<name>+<id>+<base64(0x01 || public key)>`.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let (name, id, key) = split_key(text.trim())?;
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| NoteError::Key("not an Ed25519 key"))?;
        let key =
            VerifyingKey::from_bytes(&key).map_err(|_| NoteError::Key("not an Ed25519 key"))?;
        if key_id(name, &key) != id {
            return Err(NoteError::Key("the key id does not match the key"));
        }
        Ok(LogVerifier {
            name: name.to_string(),
            key,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn encode(&self) -> String {
        join_key(&self.name, &self.key, self.key.as_bytes())
    }

    /// The checkpoint of a signed note, when a signature by this key on it verifies.
    pub fn open(&self, note: &str) -> Result<Checkpoint, NoteError> {
        Checkpoint::parse(self.open_text(note)?)
    }

    /// The text of a signed note, when a signature by this key on it verifies.
    /// Signatures by other keys are ignored, as the note format requires; a failing
    /// signature by this key refuses the note.
    pub fn open_text<'n>(&self, note: &'n str) -> Result<&'n str, NoteError> {
        if note.chars().any(|c| c.is_control() && c != '\n') {
            return Err(NoteError::Malformed("a control character"));
        }
        let split = note
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no signature block"))?;
        let (text, signatures) = (&note[..=split], &note[split + 2..]);
        let signatures = signatures
            .strip_suffix('\n')
            .ok_or(NoteError::Malformed("no final newline"))?;
        let id = key_id(&self.name, &self.key);
        let mut verified = false;
        for line in signatures.split('\n') {
            let line = line
                .strip_prefix(EM_DASH)
                .and_then(|l| l.strip_prefix(' '))
                .ok_or(NoteError::Malformed(
                    "a signature line starts with an em dash",
                ))?;
            let (name, blob) = line.split_once(' ').ok_or(NoteError::Malformed(
                "a signature line is name and signature",
            ))?;
            let blob = B64
                .decode(blob)
                .map_err(|_| NoteError::Malformed("a signature is not base64"))?;
            if name != self.name || blob.len() < 4 || blob[..4] != id {
                continue;
            }
            let signature = Signature::from_slice(&blob[4..])
                .map_err(|_| NoteError::Unverified(self.name.clone()))?;
            self.key
                .verify(text.as_bytes(), &signature)
                .map_err(|_| NoteError::Unverified(self.name.clone()))?;
            verified = true;
        }
        if !verified {
            return Err(NoteError::Unverified(self.name.clone()));
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> LogSigner {
        LogSigner::from_seed("dayops.example/audit", [7; 32]).unwrap()
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            origin: "dayops.example/audit".into(),
            size: 1042,
            root: crate::tlog::leaf_hash(b"x"),
        }
    }

    #[test]
    fn a_signed_checkpoint_opens_with_its_key_only() {
        let s = signer();
        let note = s.sign(&checkpoint());
        let lines: Vec<&str> = note.lines().collect();
        assert_eq!(lines[0], "dayops.example/audit");
        assert_eq!(lines[1], "1042");
        assert_eq!(lines[3], "");
        assert!(lines[4].starts_with("\u{2014} dayops.example/audit "));
        assert_eq!(s.verifier().open(&note).unwrap(), checkpoint());
        let other = LogSigner::from_seed("dayops.example/audit", [8; 32]).unwrap();
        assert!(matches!(
            other.verifier().open(&note),
            Err(NoteError::Unverified(_))
        ));
    }

    #[test]
    fn any_change_to_the_text_is_refused() {
        let s = signer();
        let note = s.sign(&checkpoint());
        for tampered in [
            note.replacen("1042", "1043", 1),
            note.replacen("dayops.example/audit\n", "dayops.example/audit2\n", 1),
        ] {
            assert!(s.verifier().open(&tampered).is_err(), "{tampered}");
        }
        // A second signature by an unknown key is ignored, as the note format says.
        let other = LogSigner::from_seed("witness.example", [9; 32]).unwrap();
        let cosigned = format!(
            "{note}{}",
            other.sign(&checkpoint()).rsplit("\n\n").next().unwrap()
        );
        assert_eq!(s.verifier().open(&cosigned).unwrap(), checkpoint());
    }

    #[test]
    fn keys_round_trip_in_the_go_note_format() {
        let s = signer();
        let private = s.encode();
        assert!(private.starts_with("PRIVATE+KEY+dayops.example/audit+"));
        let again = LogSigner::parse(&private).unwrap();
        assert_eq!(again.verifier(), s.verifier());
        let public = s.verifier().encode();
        assert_eq!(LogVerifier::parse(&public).unwrap(), s.verifier());
        // A key id that does not belong to the key is refused.
        let mut parts: Vec<&str> = public.splitn(3, '+').collect();
        parts[1] = "00000000";
        assert!(LogVerifier::parse(&parts.join("+")).is_err());
        assert!(LogSigner::from_seed("has space", [1; 32]).is_err());
    }

    /// The reference example of Go's `sumdb/note` (the format C2SP `signed-note`
    /// specifies): its key signs its text to exactly its published signature, and the
    /// note opens with its verifier key. So key ids, text and signature lines are exact.
    #[test]
    fn the_reference_note_is_reproduced_byte_for_byte() {
        let signer = LogSigner::parse(
            "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        )
        .unwrap();
        let text = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
        let note = format!(
            "{text}\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
        );
        assert_eq!(signer.sign_text(text), note);
        let verifier = LogVerifier::parse(
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        )
        .unwrap();
        assert_eq!(signer.verifier(), verifier);
        assert_eq!(verifier.open_text(&note).unwrap(), text);
        // Not a checkpoint, so opening it as one fails only at the checkpoint's format.
        assert!(matches!(
            verifier.open(&note),
            Err(NoteError::Checkpoint(_))
        ));
    }
}
