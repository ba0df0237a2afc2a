// Package delivery moves files to and from a partner over SFTP, or into and
// out of a local directory, so that a file arrives exactly once and
// complete.
//
// # Sending
//
// Prepare measures and hashes a built file; Client.Deliver records it
// through the caller's StateStore and sends it. Each file goes through these
// steps, and each step is saved before the next action:
//
//	pending        write .NAME.part (truncating), fsync it where the server
//	               offers fsync@openssh.com, check the byte count
//	uploaded-temp  rename .NAME.part to NAME (posix-rename@openssh.com, or
//	               plain rename with a careful fallback)
//	renamed        read NAME back: size and sha256 must match
//	verified       then the same for the sidecar NAME.manifest.json
//	done           (record count, control totals, sha256, size)
//
// Client.Resume finishes a delivery from whatever step was saved, so a
// dropped connection, a crash or a lost reply at any point neither loses the
// file nor delivers it twice:
//
//	saved step     found on the target             Resume does
//	pending        NAME with our content            skip to renamed
//	pending        anything else                    upload the temp again
//	uploaded-temp  .NAME.part present               upload it again, rename
//	uploaded-temp  temp gone, NAME is ours          the rename happened: renamed
//	uploaded-temp  temp gone, NAME gone             renamed and already collected
//	renamed        NAME is ours, or gone            verified (gone = collected)
//	renamed        NAME holds other content         ErrConflict
//
// Hidden temporary names keep partners from reading a partial file; the
// caller's file names must be deterministic so that a re-run is recognised.
//
// # Receiving
//
// Client.List, Client.Fetch and Client.Archive (or Client.Remove), or
// Client.Collect which chains them, bring partner files in: each is copied
// locally under a temporary name and renamed, checked against its manifest
// when there is one, and moved to archive/ only after the caller's
// processing succeeded and only if the remote file is still the one fetched.
//
// # Errors
//
// IsPermanent separates what retrying cannot cure (host key, login,
// permission, missing directory, changed source, conflict) from network
// trouble, which is retried with bounded, jittered exponential backoff on a
// new connection. Host keys are always checked against pinned known_hosts
// lines. The package keeps no state of its own and logs no key material or
// file content.
package delivery
