// Package access is tunnelftpd's access policy: who may do what where, with which mode and group
// new files get, which session class a connection belongs to, and the text of the banner and
// messages. It is pure: it decides, it never touches the network or a user's files, and it
// imports neither ftpserverlib nor the server. The driver asks it before every operation; the
// server compiles it from the config file and asks it at connect and at login.
//
// # Rules
//
// A [[rules]] table has a path glob, the users it applies to (who), the verbs it allows or denies,
// and the mode and group of what is created under it. For each operation, the first rule whose
// path matches the operation's target and whose who matches the user decides; a path that no
// rule matches gets the user's default rights. Deciding is one walk over the rules that apply to
// the session's user (filtered once per session), so its cost is per operation, never per byte.
//
// Paths are FTP paths inside the user's root ("/", "/pub/file.txt"), matched as the client names
// them: a symlink the operator put inside a root gives the rights of the path it is seen at.
//
// # What this package must not do
//
// No file-system access beyond what its callers hand it (message text, group lookups through
// [CompileOptions.LookupGroup]), no logging, no global state: everything is a value built by
// [Compile] and read concurrently by any number of sessions.
package access
