package wuftpd

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Input is what the importer reads. Only FtpAccess is required.
type Input struct {
	FtpAccess Source
	FtpUsers  *Source // the ftpusers file in effect, if given
	FtpHosts  *Source // the ftphosts file, if given
	// InetdLine is the inetd.conf line that started in.ftpd; Xinetd its xinetd service file.
	// At most one. Without either, in.ftpd is taken to have run with -a and no other flag.
	InetdLine string
	Xinetd    *Source
	Options
}

// Options is what the importer cannot read from the files themselves.
type Options struct {
	// FTPHome is the home directory of the "ftp" account, which wu-ftpd used as the anonymous
	// root when no anonymous-root line applies. "" = unknown.
	FTPHome string
	// Accounts are the host's accounts (ParseAccounts of /etc/passwd and /etc/group), which
	// tell which upload lines reach which users and who is a guest. nil: unknown, and lines
	// whose reach depends on home directories are written for every user they may reach.
	Accounts []Account
	// ReadFile reads a file the ftpaccess names (limit messages, files of address globs). nil:
	// such files are not read, and the report says so.
	ReadFile func(path string) ([]byte, error)
}

// Result is the imported config and the report.
type Result struct {
	// TOML is the tunnelftpd config.
	TOML string
	// Report has one line per directive, flag and file entry, in file and line order.
	Report []Finding
}

// Counts tallies the report by status.
func (r *Result) Counts() map[Status]int {
	m := map[Status]int{}
	for _, f := range r.Report {
		m[f.Status]++
	}
	return m
}

// importer holds one run.
type importer struct {
	in       Input
	findings []Finding
	reported map[*directive]bool
	dirs     []*directive
	byKw     map[string][]*directive
	launch   *launch
	cfg      *config

	useAccess bool   // ftpaccess in effect (-a)
	flagT     string // -t seconds
	flagU     string // -u umask
	xferIn    bool   // -i
	xferOut   bool   // -o
	xferSys   bool   // -X
	cmdLog    bool   // -L
	noWtmp    bool   // -W
	noPIDs    bool   // -Q
	port      string

	// who is who
	anonRoot     string
	anonFromHome bool       // anonRoot is the ftp account's home
	anonRootLine *directive // the anonymous-root line that set anonRoot
	guestRoot    string
	guests       selectors
	reals        selectors
	kindOff      [numKinds]string // why a kind cannot log in at all ("" = it can)
	classesOf    [numKinds][]string
	blocks       []block
	ctxs         map[string][]ctx
	umask        uint32
	pol          *policy
	// refusals at login, written as classes whose deny_clients hold the clients refused:
	// per kind (class addresses) and per user (ftphosts, ftpusers case)
	admitK     [numKinds]addrSet
	userRefuse map[string]refusal
	deny       addrSet
	admit      addrSet
	denyWhy    []*directive
	approx     map[*directive]string // lines written narrower because their location is unknown
}

// Import reads wu-ftpd's configuration and returns the tunnelftpd config and the report. It
// fails only on input it cannot read at all (an inetd line that is not one, an xinetd file
// without an ftpd service).
func Import(in Input) (*Result, error) {
	im, err := runImport(in)
	if err != nil {
		return nil, err
	}
	return &Result{TOML: im.cfg.render(), Report: im.findings}, nil
}

// runImport does the import and returns its state (tests look inside).
func runImport(in Input) (*importer, error) {
	if in.InetdLine != "" && in.Xinetd != nil {
		return nil, errors.New("give either an inetd line or an xinetd file, not both")
	}
	im := &importer{in: in, reported: map[*directive]bool{}, cfg: newConfig(), useAccess: true, admit: allAddrs, ctxs: map[string][]ctx{}, approx: map[*directive]string{}, userRefuse: map[string]refusal{}}
	var err error
	switch {
	case in.InetdLine != "":
		im.launch, err = parseInetdLine("--inetd-line", in.InetdLine)
	case in.Xinetd != nil:
		im.launch, err = parseXinetd(*in.Xinetd)
	}
	if err != nil {
		return nil, err
	}
	if in.FTPHome == "" {
		for _, a := range in.Accounts {
			if a.Name == "ftp" {
				im.in.FTPHome = a.Home
			}
		}
	}
	dirs, crlf := parseFtpaccess(in.FtpAccess)
	im.dirs = dirs
	if crlf {
		im.fileNote(in.FtpAccess.Name, Note, "the file has CRLF line ends; wu-ftpd kept the CR in each line's last word (\"yes\\r\" is not yes), the importer removed them")
	}
	im.mapLaunch()
	if !im.useAccess {
		for _, d := range dirs {
			im.report(d, Note, "not in effect: in.ftpd ran without -a, so wu-ftpd never read this file; the import follows wu-ftpd's built-in defaults")
		}
		im.dirs = nil
	}
	im.byKw = map[string][]*directive{}
	for _, d := range im.dirs {
		im.byKw[d.Keyword] = append(im.byKw[d.Keyword], d)
	}

	im.header()
	im.mapIdentity()
	im.mapFtpusers()
	im.mapClasses()
	im.mapFtphosts()
	im.mapUmask()
	im.mapSimple()
	im.mapPolicy()
	im.finish()

	for _, d := range im.dirs {
		if !im.reported[d] {
			im.report(d, Lost, "not a wu-ftpd directive: wu-ftpd ignores unknown keywords, so it had no effect there; if it came from another server (BeroFTPD, a vendor build) its intent is not carried over")
		}
	}
	sort.SliceStable(im.findings, func(i, j int) bool {
		a, b := im.findings[i], im.findings[j]
		if a.File != b.File {
			return fileRank(im, a.File) < fileRank(im, b.File)
		}
		return a.Line < b.Line
	})
	return im, nil
}

// fileRank orders the report: launch line, ftpaccess, ftpusers, ftphosts.
func fileRank(im *importer, name string) int {
	switch {
	case im.launch != nil && name == im.launch.File:
		return 0
	case name == im.in.FtpAccess.Name:
		return 1
	case im.in.FtpUsers != nil && name == im.in.FtpUsers.Name:
		return 2
	case im.in.FtpHosts != nil && name == im.in.FtpHosts.Name:
		return 3
	}
	return 4
}

func (im *importer) report(d *directive, st Status, format string, args ...any) {
	im.reported[d] = true
	im.findings = append(im.findings, Finding{File: d.File, Line: d.Line, Directive: d.name(), Status: st, Text: fmt.Sprintf(format, args...)})
}

func (im *importer) reportAt(file string, line int, directive string, st Status, format string, args ...any) {
	im.findings = append(im.findings, Finding{File: file, Line: line, Directive: directive, Status: st, Text: fmt.Sprintf(format, args...)})
}

// fileNote reports something about a whole file (line 0).
func (im *importer) fileNote(file string, st Status, format string, args ...any) {
	im.reportAt(file, 0, "(file)", st, format, args...)
}

// defaultNote reports a wu-ftpd default that no line set (line 0 of the ftpaccess).
func (im *importer) defaultNote(directive string, st Status, format string, args ...any) {
	im.reportAt(im.in.FtpAccess.Name, 0, directive, st, "(not set) "+format, args...)
}

func (im *importer) first(kw string) *directive {
	if l := im.byKw[kw]; len(l) > 0 {
		return l[0]
	}
	return nil
}

func (im *importer) header() {
	src := "ftpaccess " + im.in.FtpAccess.Name
	if im.launch != nil {
		if im.launch.Xinetd {
			src += ", xinetd " + im.launch.File
		} else {
			src += ", inetd line"
		}
	}
	if im.in.FtpUsers != nil {
		src += ", ftpusers " + im.in.FtpUsers.Name
	}
	if im.in.FtpHosts != nil {
		src += ", ftphosts " + im.in.FtpHosts.Name
	}
	im.cfg.header = []string{
		"tunnelftpd config written by `tunnelftpd import wu-ftpd` from " + src + ".",
		"Read the import report before using it: every \"narrowed\" and \"lost\" line says where",
		"tunnelftpd behaves differently from wu-ftpd. Then run: tunnelftpd check -c THIS_FILE",
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = `"` + s + `"`
	}
	return strings.Join(q, ", ")
}

// refusal is the clients a user is refused from, and why (for the class comment).
type refusal struct {
	set addrSet
	why string
}
