//go:build cgo && linux

package auth

/*
#cgo LDFLAGS: -lpam -ldl
#define _GNU_SOURCE
#include <security/pam_appl.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

// tftp_creds is what the conversation answers: the user name to an echoed
// prompt, the password to a hidden one. It lives in C memory for the whole
// transaction (PAM keeps the pointer).
struct tftp_creds {
	char *user;
	char *pass;
};

static void tftp_free_responses(struct pam_response *r, int n) {
	for (int i = 0; i < n; i++) {
		if (r[i].resp) {
			explicit_bzero(r[i].resp, strlen(r[i].resp));
			free(r[i].resp);
		}
	}
	free(r);
}

static int tftp_conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data) {
	struct tftp_creds *c = data;
	if (n <= 0 || n > PAM_MAX_NUM_MSG)
		return PAM_CONV_ERR;
	struct pam_response *r = calloc(n, sizeof *r);
	if (!r)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
			r[i].resp = strdup(c->pass);
			break;
		case PAM_PROMPT_ECHO_ON:
			r[i].resp = strdup(c->user);
			break;
		case PAM_ERROR_MSG:
		case PAM_TEXT_INFO:
			continue;
		default:
			tftp_free_responses(r, n);
			return PAM_CONV_ERR;
		}
		if (!r[i].resp) {
			tftp_free_responses(r, n);
			return PAM_BUF_ERR;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

// tftp_no_delay stands in for the delay PAM modules ask for after a
// failure (pam_unix: about 2 s, randomized): the daemon gives every failed
// login one fixed delay of its own, whatever the reason.
static void tftp_no_delay(int retval, unsigned usec_delay, void *appdata) {
	(void)retval;
	(void)usec_delay;
	(void)appdata;
}

typedef int (*tftp_start_confdir_fn)(const char *, const char *, const struct pam_conv *, const char *, pam_handle_t **);

// tftp_start starts a transaction (reading confdir instead of /etc/pam.d
// when set: Linux-PAM 1.4) with the daemon's conversation and delay.
static int tftp_start(const char *service, const char *user, const char *confdir, struct tftp_creds *c, pam_handle_t **h) {
	struct pam_conv conv = { tftp_conv, c }; // pam_start copies it
	int r;
	if (confdir) {
		tftp_start_confdir_fn fn = (tftp_start_confdir_fn)dlsym(RTLD_DEFAULT, "pam_start_confdir");
		if (!fn)
			return -1;
		r = fn(service, user, &conv, confdir, h);
	} else {
		r = pam_start(service, user, &conv, h);
	}
	if (r != PAM_SUCCESS)
		return r;
	return pam_set_item(*h, PAM_FAIL_DELAY, (const void *)tftp_no_delay);
}

static int tftp_set_item(pam_handle_t *h, int item, const char *value) {
	return pam_set_item(h, item, value);
}

static struct tftp_creds *tftp_creds_new(const char *user, const char *pass) {
	struct tftp_creds *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->user = strdup(user);
	c->pass = strdup(pass);
	if (!c->user || !c->pass) {
		free(c->user);
		free(c->pass);
		free(c);
		return NULL;
	}
	return c;
}

static void tftp_creds_free(struct tftp_creds *c) {
	if (!c)
		return;
	explicit_bzero(c->pass, strlen(c->pass));
	free(c->pass);
	free(c->user);
	free(c);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// PAMAvailable reports whether this build can log in system accounts.
const PAMAvailable = true

// pamTx is one PAM transaction.
type pamTx struct {
	h     *C.pam_handle_t
	creds *C.struct_tftp_creds
	last  C.int // the last status, for pam_end
}

// pamStart starts a transaction for name, answering password. PAM's own
// delay after a failure is replaced by none (the caller delays).
func pamStart(service, confDir, name, password string) (*pamTx, error) {
	cService, cName, cPass := C.CString(service), C.CString(name), C.CString(password)
	defer C.free(unsafe.Pointer(cService))
	defer C.free(unsafe.Pointer(cName))
	defer func() {
		C.explicit_bzero(unsafe.Pointer(cPass), C.strlen(cPass))
		C.free(unsafe.Pointer(cPass))
	}()
	var cConf *C.char
	if confDir != "" {
		cConf = C.CString(confDir)
		defer C.free(unsafe.Pointer(cConf))
	}
	tx := &pamTx{creds: C.tftp_creds_new(cName, cPass)}
	if tx.creds == nil {
		return nil, errors.New("PAM: out of memory")
	}
	r := C.tftp_start(cService, cName, cConf, tx.creds, &tx.h)
	switch {
	case r == -1:
		C.tftp_creds_free(tx.creds)
		return nil, fmt.Errorf("starting PAM service %q: this libpam cannot read a configuration directory (Linux-PAM >= 1.4 needed for %s)", service, confDir)
	case r != C.PAM_SUCCESS:
		err := tx.error(r)
		tx.end()
		return nil, fmt.Errorf("starting PAM service %q: %w", service, err)
	}
	return tx, nil
}

func (tx *pamTx) error(r C.int) error {
	if tx.h == nil {
		return fmt.Errorf("PAM error %d", int(r))
	}
	return errors.New(C.GoString(C.pam_strerror(tx.h, r)))
}

// do records and checks the status of one PAM call.
func (tx *pamTx) do(r C.int) error {
	tx.last = r
	if r != C.PAM_SUCCESS {
		return tx.error(r)
	}
	return nil
}

func (tx *pamTx) setItem(item C.int, value string) error {
	cv := C.CString(value)
	defer C.free(unsafe.Pointer(cv))
	return tx.do(C.tftp_set_item(tx.h, item, cv))
}

// end ends the transaction and frees the answers.
func (tx *pamTx) end() error {
	var err error
	if tx.h != nil {
		if r := C.pam_end(tx.h, tx.last); r != C.PAM_SUCCESS {
			err = fmt.Errorf("pam_end: status %d", int(r))
		}
		tx.h = nil
	}
	C.tftp_creds_free(tx.creds)
	tx.creds = nil
	return err
}

// pamLogin runs PAM's auth and account stages for name and opens a session.
// The returned function closes the session and the PAM handle.
func pamLogin(service, confDir, name, password, rhost string) (func() error, error) {
	tx, err := pamStart(service, confDir, name, password)
	if err != nil {
		return nil, err
	}
	fail := func(stage string, err error) (func() error, error) {
		tx.end()
		return nil, refuse("PAM %s: %v", stage, err)
	}
	if rhost != "" {
		if err := tx.setItem(C.PAM_RHOST, rhost); err != nil {
			return fail("setup", err)
		}
	}
	if err := tx.setItem(C.PAM_TTY, "ftp"); err != nil {
		return fail("setup", err)
	}
	if err := tx.do(C.pam_authenticate(tx.h, C.PAM_DISALLOW_NULL_AUTHTOK)); err != nil {
		return fail("authentication", err)
	}
	if err := tx.do(C.pam_acct_mgmt(tx.h, C.PAM_DISALLOW_NULL_AUTHTOK)); err != nil {
		return fail("account", err)
	}
	if err := tx.do(C.pam_setcred(tx.h, C.PAM_ESTABLISH_CRED)); err != nil {
		return fail("credentials", err)
	}
	if err := tx.do(C.pam_open_session(tx.h, 0)); err != nil {
		return fail("session", err)
	}
	return func() error {
		err := tx.do(C.pam_close_session(tx.h, 0))
		C.pam_setcred(tx.h, C.PAM_DELETE_CRED)
		return errors.Join(err, tx.end())
	}, nil
}

// pamDummy runs PAM's auth stage for a user name that cannot exist, and
// discards the result: the work a refusal made before PAM (unknown user,
// ftpusers, min_uid...) would otherwise skip, so that it costs what a
// wrong password costs. "NOUSER" is what OpenSSH hands PAM for invalid
// users too.
func pamDummy(service, confDir, password, rhost string) {
	tx, err := pamStart(service, confDir, dummyUser, password)
	if err != nil {
		return
	}
	defer tx.end()
	if rhost != "" {
		tx.setItem(C.PAM_RHOST, rhost) //nolint:errcheck // a dummy
	}
	tx.setItem(C.PAM_TTY, "ftp")                                 //nolint:errcheck // a dummy
	tx.do(C.pam_authenticate(tx.h, C.PAM_DISALLOW_NULL_AUTHTOK)) //nolint:errcheck // a dummy
}
