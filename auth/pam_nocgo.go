//go:build !cgo || !linux

package auth

import "errors"

// PAMAvailable reports whether this build can log in system accounts.
const PAMAvailable = false

func pamLogin(service, confDir, name, password, rhost string) (func() error, error) {
	return nil, errors.New("PAM support is not compiled in (built without cgo)")
}

func pamDummy(service, confDir, password, rhost string) {}
