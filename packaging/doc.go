// Package packaging owns what turns a checkout into the .deb and .rpm
// packages that packaging/build writes: the generated parts of the package
// (the tunnelftpd.toml(5) man page made from the comments of
// etc/tunnelftpd.toml, the copyright file made from the licenses of the
// modules linked into the binary) and, in its tests, the checks of the built
// packages (contents, lintian, rpmlint, man page lint) and of an install on
// the booted test bed.
//
// It only reads the tree: the daemon's code, etc/ and systemd/ are shipped
// as they are (the build rewrites the binary's path in copies of them), and
// nothing here may change them. Output goes to dist/ (or build --out) and a
// temporary staging directory.
package packaging
