//go:build cgo && linux

package auth

import (
	"errors"
	"fmt"

	"github.com/msteinert/pam/v2"
)

// PAMAvailable reports whether this build can log in system accounts.
const PAMAvailable = true

// pamLogin runs PAM's auth and account stages for name and opens a session.
// The returned function closes the session and the PAM handle.
func pamLogin(service, confDir, name, password, rhost string) (func() error, error) {
	conv := pam.ConversationFunc(func(style pam.Style, msg string) (string, error) {
		switch style {
		case pam.PromptEchoOff:
			return password, nil
		case pam.PromptEchoOn:
			return name, nil
		case pam.ErrorMsg, pam.TextInfo:
			return "", nil
		}
		return "", errors.New("unsupported PAM conversation")
	})
	var (
		t   *pam.Transaction
		err error
	)
	if confDir != "" {
		t, err = pam.StartConfDir(service, name, conv, confDir)
	} else {
		t, err = pam.Start(service, name, conv)
	}
	if err != nil {
		return nil, fmt.Errorf("starting PAM service %q: %w", service, err)
	}
	fail := func(stage string, err error) (func() error, error) {
		t.End()
		return nil, refuse("PAM %s: %v", stage, err)
	}
	if rhost != "" {
		t.SetItem(pam.Rhost, rhost)
	}
	t.SetItem(pam.Tty, "ftp")
	if err := t.Authenticate(pam.DisallowNullAuthtok); err != nil {
		return fail("authentication", err)
	}
	if err := t.AcctMgmt(pam.DisallowNullAuthtok); err != nil {
		return fail("account", err)
	}
	if err := t.SetCred(pam.EstablishCred); err != nil {
		return fail("credentials", err)
	}
	if err := t.OpenSession(0); err != nil {
		return fail("session", err)
	}
	return func() error {
		err := t.CloseSession(0)
		t.SetCred(pam.DeleteCred)
		return errors.Join(err, t.End())
	}, nil
}
