//go:build cgo && linux

package auth

// PAM through dlopen: libpam.so.0 is loaded at the first system login, so
// the build needs a C compiler but neither the PAM headers nor the linker's
// libpam.so (libpam0g-dev): `go build` works on a fresh Debian with gcc, and
// the binary uses the host's Linux-PAM at run time. The few declarations
// below are Linux-PAM's ABI (<security/_pam_types.h>), stable since 0.99.

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct pam_message { int msg_style; const char *msg; };
struct pam_response { char *resp; int resp_retcode; };
struct pam_conv {
	int (*conv)(int, const struct pam_message **, struct pam_response **, void *);
	void *appdata_ptr;
};
typedef struct pam_handle pam_handle_t;

#define TF_PAM_SUCCESS 0
#define TF_PAM_CONV_ERR 19
#define TF_PAM_BUF_ERR 5

typedef int (*start_fn)(const char *, const char *, const struct pam_conv *, pam_handle_t **);
typedef int (*start_confdir_fn)(const char *, const char *, const struct pam_conv *, const char *, pam_handle_t **);
typedef int (*flags_fn)(pam_handle_t *, int);
typedef int (*end_fn)(pam_handle_t *, int);
typedef int (*set_item_fn)(pam_handle_t *, int, const void *);
typedef const char *(*strerror_fn)(pam_handle_t *, int);

static void *tf_lib;
static start_fn tf_start;
static start_confdir_fn tf_start_confdir;
static flags_fn tf_authenticate, tf_acct_mgmt, tf_setcred, tf_open_session, tf_close_session;
static end_fn tf_end;
static set_item_fn tf_set_item;
static strerror_fn tf_strerror;

// tf_load opens libpam once; it returns NULL or dlerror()'s text.
static const char *tf_load(void) {
	if (tf_lib) return NULL;
	void *h = dlopen("libpam.so.0", RTLD_NOW | RTLD_LOCAL);
	if (!h) return dlerror();
	tf_start = (start_fn)dlsym(h, "pam_start");
	tf_start_confdir = (start_confdir_fn)dlsym(h, "pam_start_confdir"); // Linux-PAM >= 1.4; may be NULL
	tf_authenticate = (flags_fn)dlsym(h, "pam_authenticate");
	tf_acct_mgmt = (flags_fn)dlsym(h, "pam_acct_mgmt");
	tf_setcred = (flags_fn)dlsym(h, "pam_setcred");
	tf_open_session = (flags_fn)dlsym(h, "pam_open_session");
	tf_close_session = (flags_fn)dlsym(h, "pam_close_session");
	tf_end = (end_fn)dlsym(h, "pam_end");
	tf_set_item = (set_item_fn)dlsym(h, "pam_set_item");
	tf_strerror = (strerror_fn)dlsym(h, "pam_strerror");
	if (!tf_start || !tf_authenticate || !tf_acct_mgmt || !tf_setcred || !tf_open_session ||
	    !tf_close_session || !tf_end || !tf_set_item || !tf_strerror) {
		dlclose(h);
		return "libpam.so.0 lacks a pam_* function";
	}
	tf_lib = h;
	return NULL;
}

extern int tfGoConv(int style, char *msg, char **resp, uintptr_t appdata);

// tf_conv answers PAM's prompts through Go (tfGoConv), one message at a time.
static int tf_conv(int n, const struct pam_message **msg, struct pam_response **resp, void *appdata) {
	if (n <= 0 || n > 32) return TF_PAM_CONV_ERR;
	struct pam_response *r = calloc((size_t)n, sizeof *r);
	if (!r) return TF_PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		char *answer = NULL;
		if (tfGoConv(msg[i]->msg_style, (char *)msg[i]->msg, &answer, (uintptr_t)appdata) != 0) {
			for (int j = 0; j < i; j++) {
				if (r[j].resp) { memset(r[j].resp, 0, strlen(r[j].resp)); free(r[j].resp); }
			}
			free(r);
			return TF_PAM_CONV_ERR;
		}
		r[i].resp = answer; // malloc'd by Go (C.CString); PAM frees it
	}
	*resp = r;
	return TF_PAM_SUCCESS;
}

static int tf_start_tx(const char *service, const char *user, const char *confdir, uintptr_t appdata, pam_handle_t **h) {
	struct pam_conv *c = malloc(sizeof *c); // PAM keeps the pointer until pam_end
	if (!c) return TF_PAM_BUF_ERR;
	c->conv = tf_conv;
	c->appdata_ptr = (void *)appdata;
	int rc;
	if (confdir) {
		if (!tf_start_confdir) { free(c); return -1; }
		rc = tf_start_confdir(service, user, c, confdir, h);
	} else {
		rc = tf_start(service, user, c, h);
	}
	if (rc != TF_PAM_SUCCESS) free(c);
	return rc;
}

static int tf_authenticate_(pam_handle_t *h, int f) { return tf_authenticate(h, f); }
static int tf_acct_mgmt_(pam_handle_t *h, int f) { return tf_acct_mgmt(h, f); }
static int tf_setcred_(pam_handle_t *h, int f) { return tf_setcred(h, f); }
static int tf_open_session_(pam_handle_t *h, int f) { return tf_open_session(h, f); }
static int tf_close_session_(pam_handle_t *h, int f) { return tf_close_session(h, f); }
static int tf_end_(pam_handle_t *h, int status) { return tf_end(h, status); }
static int tf_set_item_(pam_handle_t *h, int item, const char *v) { return tf_set_item(h, item, v); }
static const char *tf_strerror_(pam_handle_t *h, int rc) { return tf_strerror(h, rc); }
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime/cgo"
	"sync"
	"unsafe"
)

// PAMAvailable reports whether this build can log in system accounts.
const PAMAvailable = true

// Linux-PAM's values (<security/_pam_types.h>).
const (
	pamSuccess             = 0
	pamPromptEchoOff       = 1
	pamPromptEchoOn        = 2
	pamErrorMsg            = 3
	pamTextInfo            = 4
	pamTTY                 = 3
	pamRhost               = 4
	pamDisallowNullAuthtok = 0x1
	pamEstablishCred       = 0x2
	pamDeleteCred          = 0x4
)

var loadMu sync.Mutex

func loadPAM() error {
	loadMu.Lock()
	defer loadMu.Unlock()
	if msg := C.tf_load(); msg != nil {
		return fmt.Errorf("loading PAM (libpam.so.0, package libpam0g): %s", C.GoString(msg))
	}
	return nil
}

// conversation is what tfGoConv answers for one transaction.
type conversation struct{ name, password string }

//export tfGoConv
func tfGoConv(style C.int, msg *C.char, resp **C.char, appdata C.uintptr_t) C.int {
	c := cgo.Handle(uintptr(appdata)).Value().(*conversation)
	switch int(style) {
	case pamPromptEchoOff:
		*resp = C.CString(c.password)
	case pamPromptEchoOn:
		*resp = C.CString(c.name)
	case pamErrorMsg, pamTextInfo:
		*resp = nil
	default:
		return 1
	}
	return 0
}

// pamTx is one PAM transaction.
type pamTx struct {
	h      *C.pam_handle_t
	handle cgo.Handle
	last   C.int
}

func (t *pamTx) err(rc C.int) error {
	return errors.New(C.GoString(C.tf_strerror_(t.h, rc)))
}

// end closes the transaction with the status of its last call.
func (t *pamTx) end() error {
	rc := C.tf_end_(t.h, t.last)
	t.handle.Delete()
	if rc != pamSuccess {
		return fmt.Errorf("pam_end: status %d", int(rc))
	}
	return nil
}

// pamLogin runs PAM's auth and account stages for name and opens a session.
// The returned function closes the session and the PAM handle.
func pamLogin(service, confDir, name, password, rhost string) (func() error, error) {
	if err := loadPAM(); err != nil {
		return nil, err
	}
	cService, cName := C.CString(service), C.CString(name)
	defer C.free(unsafe.Pointer(cService))
	defer C.free(unsafe.Pointer(cName))
	var cConf *C.char
	if confDir != "" {
		cConf = C.CString(confDir)
		defer C.free(unsafe.Pointer(cConf))
	}
	t := &pamTx{handle: cgo.NewHandle(&conversation{name: name, password: password})}
	rc := C.tf_start_tx(cService, cName, cConf, C.uintptr_t(t.handle), &t.h)
	if rc != pamSuccess {
		t.handle.Delete()
		if rc == -1 {
			return nil, fmt.Errorf("starting PAM service %q: this Linux-PAM has no pam_start_confdir (needs 1.4 or later)", service)
		}
		return nil, fmt.Errorf("starting PAM service %q: status %d", service, int(rc))
	}
	fail := func(stage string, rc C.int) (func() error, error) {
		t.last = rc
		err := t.err(rc)
		t.end()
		return nil, refuse("PAM %s: %v", stage, err)
	}
	if rhost != "" {
		cr := C.CString(rhost)
		C.tf_set_item_(t.h, pamRhost, cr)
		C.free(unsafe.Pointer(cr))
	}
	ctty := C.CString("ftp")
	C.tf_set_item_(t.h, pamTTY, ctty)
	C.free(unsafe.Pointer(ctty))
	if rc := C.tf_authenticate_(t.h, pamDisallowNullAuthtok); rc != pamSuccess {
		return fail("authentication", rc)
	}
	if rc := C.tf_acct_mgmt_(t.h, pamDisallowNullAuthtok); rc != pamSuccess {
		return fail("account", rc)
	}
	if rc := C.tf_setcred_(t.h, pamEstablishCred); rc != pamSuccess {
		return fail("credentials", rc)
	}
	if rc := C.tf_open_session_(t.h, 0); rc != pamSuccess {
		return fail("session", rc)
	}
	return func() error {
		var err error
		if rc := C.tf_close_session_(t.h, 0); rc != pamSuccess {
			t.last = rc
			err = fmt.Errorf("pam_close_session: %w", t.err(rc))
		}
		C.tf_setcred_(t.h, pamDeleteCred)
		return errors.Join(err, t.end())
	}, nil
}
