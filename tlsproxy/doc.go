// Package tlsproxy holds circa's TLS policy and the small programs built on it.
//
// It provides:
//
//   - [ServerConfig]: the server side TLS policy (TLS 1.2 or newer, AEAD cipher suites only), the certificate served
//     through GetCertificate and re-read by [ServerConfig.Reload] (on SIGHUP), and optional client certificates
//     verified against a CA bundle file, or requested from any issuer and checked per caller with [VerifyClient].
//   - [ClientConfig]: the client side of the same policy, for tunnels and HTTPS clients.
//   - [Identity]: the self-check profile and institution a verified client certificate names.
//   - [InitCA], [IssueServer], [IssueClient] and [EnsureSelfSigned]: a small private CA for a library's kiosks.
//   - [NewListener] and [Handshake]: a listener whose Accept never waits for a handshake; the handshake runs in
//     the connection's own goroutine under a deadline.
//   - [Proxy]: TLS in, plain TCP out, for fronting a legacy plaintext SIP2 server.
//   - [Tunnel]: plain TCP in on the kiosk PC, TLS out to one of the library's servers (failing over between them),
//     in place of stunnel.
//
// # Client certificate convention
//
// A client certificate is issued to a group of kiosks that share one self-check profile (the way cloud ILSs hand out
// one certificate per self-check profile). It names:
//
//   - the profile code in the Subject Common Name, e.g. CN=KIOSK-MAIN;
//   - the institution in a URI subject alternative name of the form urn:circa:institution:CODE, e.g.
//     urn:circa:institution:MAIN. CODE is percent-encoded when it holds characters outside the URN set.
//
// [IssueClient] writes exactly this form. [Identity] also accepts, when no such URI is present, the first Subject
// Organization as the institution, so certificates from an existing CA can be used as they are. The institution may
// be absent; the profile code may not. Only a certificate that verified against the configured CA bundle yields an
// identity.
//
// # Files
//
// A certificate directory made by [InitCA] holds ca.pem and ca-key.pem (the CA) and server.pem and server-key.pem
// (the server certificate). [IssueClient] writes PROFILE.pem, PROFILE-key.pem and a copy of ca.pem into its output
// directory, which is what a [Tunnel] or stunnel on the kiosk PC needs. Private keys are PKCS #8 PEM files with mode
// 0600; every file is written to a temporary name and renamed, so a reload never sees half a file.
package tlsproxy
