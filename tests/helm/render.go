// render.go - a small stand-in for `helm template`, so the chart in deploy/helm/sluice can
// be rendered and checked in `make test` on a machine without helm (Debian ships none).
//
// Built offline from Debian's Go packages in GOPATH mode (see the Makefile rule
// build/helm-render):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o build/helm-render tests/helm/render.go
//
// Usage:
//
//	helm-render [-f values.yaml]... [--set a.b=v]... [--set-file a.b=path]... \
//	    [--name NAME] [--namespace NS] [--upgrade] [--json OUT] [--notes OUT] CHART_DIR
//
// It implements the part of Helm 3's template engine the chart uses, with Helm's semantics:
//   - values: the chart's values.yaml, then each -f file, then --set / --set-file, deep
//     merged like helm (maps merge key by key, anything else replaces, null deletes);
//     --set types its value like helm (true/false, null, int64, else a string) but takes one
//     key=value per flag, without helm's commas, list indexes or escapes;
//     numbers become float64 as in Helm (values go through JSON there too);
//   - the top-level object: .Values, .Release (Name, Namespace, Service, IsInstall,
//     IsUpgrade, Revision), .Chart (Chart.yaml with Helm's field names: Name, Version,
//     AppVersion, ...), .Capabilities (KubeVersion, APIVersions.Has), .Template (Name,
//     BasePath);
//   - functions: sprig.TxtFuncMap() (minus env/expandenv, as Helm) plus include, tpl,
//     toYaml, fromYaml, fromYamlArray, toJson, fromJson, fromJsonArray, required, fail and
//     lookup (always an empty map, as under `helm template`);
//   - every file in templates/ is parsed into one template set; files whose name starts
//     with "_" are partials and produce no output; NOTES.txt is rendered separately
//     (--notes); missing map keys render as empty ("<no value>" is removed, as in Helm);
//   - the output is a YAML stream like `helm template`: "---", "# Source: chart/templates/x",
//     then the manifest, in Helm's install order by kind; documents that are empty after
//     rendering are dropped; a manifest that is not valid YAML is an error.
//
// --json OUT also writes the manifests parsed, as a JSON array of {"source", "manifest"},
// so checkers need no YAML library. Exit status: 0 rendered, 1 render error, 2 usage.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

// Metadata mirrors helm.sh/helm/v3/pkg/chart.Metadata: templates see .Chart.Name,
// .Chart.Version, .Chart.AppVersion and so on.
type Maintainer struct {
	Name  string `yaml:"name" json:"name,omitempty"`
	Email string `yaml:"email" json:"email,omitempty"`
	URL   string `yaml:"url" json:"url,omitempty"`
}

type Metadata struct {
	Name         string            `yaml:"name"`
	Home         string            `yaml:"home"`
	Sources      []string          `yaml:"sources"`
	Version      string            `yaml:"version"`
	Description  string            `yaml:"description"`
	Keywords     []string          `yaml:"keywords"`
	Maintainers  []*Maintainer     `yaml:"maintainers"`
	Icon         string            `yaml:"icon"`
	APIVersion   string            `yaml:"apiVersion"`
	Condition    string            `yaml:"condition"`
	Tags         string            `yaml:"tags"`
	AppVersion   string            `yaml:"appVersion"`
	Deprecated   bool              `yaml:"deprecated"`
	Annotations  map[string]string `yaml:"annotations"`
	KubeVersion  string            `yaml:"kubeVersion"`
	Type         string            `yaml:"type"`
	Dependencies []interface{}     `yaml:"dependencies"`
}

// VersionSet mirrors chartutil.VersionSet (.Capabilities.APIVersions.Has "x/v1").
type VersionSet []string

func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

type KubeVersion struct {
	Version string
	Major   string
	Minor   string
}

func (k *KubeVersion) String() string     { return k.Version }
func (k *KubeVersion) GitVersion() string { return k.Version }

type Capabilities struct {
	APIVersions VersionSet
	KubeVersion KubeVersion
	HelmVersion map[string]string
}

// The API versions `helm template` assumes without a cluster (a subset of Helm's defaults).
var defaultAPIVersions = []string{
	"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v2", "networking.k8s.io/v1",
	"rbac.authorization.k8s.io/v1", "storage.k8s.io/v1", "coordination.k8s.io/v1",
	"apiextensions.k8s.io/v1",
}

// Helm's install order (releaseutil.InstallOrder); unknown kinds go last, in file order.
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
	"PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList",
	"ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
	"CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
	"ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service",
	"DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
	"APIService",
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func main() {
	os.Exit(run(os.Args[1:]))
}

func usage(fs *flag.FlagSet) {
	fmt.Fprintf(os.Stderr, "usage: helm-render [flags] CHART_DIR\n")
	fs.PrintDefaults()
}

func run(args []string) int {
	fs := flag.NewFlagSet("helm-render", flag.ContinueOnError)
	var valueFiles, sets, setFiles, apiVersions multiFlag
	fs.Var(&valueFiles, "f", "values file (repeatable; later files win)")
	fs.Var(&valueFiles, "values", "same as -f")
	fs.Var(&sets, "set", "a.b=value, typed like helm (bool, null, int, else string); one per flag, no commas or list indexes (repeatable)")
	fs.Var(&setFiles, "set-file", "a.b=path: the file's contents as a string (repeatable)")
	fs.Var(&apiVersions, "api-versions", "extra API version for .Capabilities (repeatable)")
	name := fs.String("name", "release-name", "release name")
	namespace := fs.String("namespace", "default", "release namespace")
	upgrade := fs.Bool("upgrade", false, "render as an upgrade (IsUpgrade, Revision 2)")
	kubeVersion := fs.String("kube-version", "v1.28.0", "Kubernetes version for .Capabilities")
	jsonOut := fs.String("json", "", "also write the parsed manifests as JSON to this file")
	notesOut := fs.String("notes", "", "write the rendered NOTES.txt to this file")
	fs.SetOutput(os.Stderr)
	fs.Usage = func() { usage(fs) }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		usage(fs)
		return 2
	}
	chartDir := fs.Arg(0)

	out, notes, docs, err := render(chartDir, options{
		valueFiles: valueFiles, sets: sets, setFiles: setFiles, name: *name,
		namespace: *namespace, upgrade: *upgrade, kubeVersion: *kubeVersion,
		apiVersions: apiVersions,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		return 1
	}
	if *jsonOut != "" {
		data, err := json.MarshalIndent(docs, "", "  ")
		if err == nil {
			err = os.WriteFile(*jsonOut, append(data, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "Error: --json: %v\n", err)
			return 1
		}
	}
	if *notesOut != "" {
		if err := os.WriteFile(*notesOut, []byte(notes), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "Error: --notes: %v\n", err)
			return 1
		}
	}
	os.Stdout.WriteString(out)
	return 0
}

type options struct {
	valueFiles, sets, setFiles, apiVersions []string
	name, namespace, kubeVersion            string
	upgrade                                 bool
}

type manifest struct {
	Source   string      `json:"source"`
	Manifest interface{} `json:"manifest"`
	text     string
	kind     string
}

// ---- values ------------------------------------------------------------------------

// toJSONish converts what yaml.v3 decoded into what Helm's values look like after their
// YAML -> JSON -> Go trip: map[string]interface{}, []interface{}, float64, string, bool, nil.
func toJSONish(v interface{}) (interface{}, error) {
	norm, err := stringKeys(v)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(norm)
	if err != nil {
		return nil, err
	}
	var out interface{}
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func stringKeys(v interface{}) (interface{}, error) {
	switch t := v.(type) {
	case map[string]interface{}:
		m := make(map[string]interface{}, len(t))
		for k, x := range t {
			y, err := stringKeys(x)
			if err != nil {
				return nil, err
			}
			m[k] = y
		}
		return m, nil
	case map[interface{}]interface{}:
		m := make(map[string]interface{}, len(t))
		for k, x := range t {
			y, err := stringKeys(x)
			if err != nil {
				return nil, err
			}
			m[fmt.Sprint(k)] = y
		}
		return m, nil
	case []interface{}:
		l := make([]interface{}, len(t))
		for i, x := range t {
			y, err := stringKeys(x)
			if err != nil {
				return nil, err
			}
			l[i] = y
		}
		return l, nil
	default:
		return v, nil
	}
}

func readValuesFile(path string) (map[string]interface{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw interface{}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if raw == nil {
		return map[string]interface{}{}, nil
	}
	v, err := toJSONish(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	m, ok := v.(map[string]interface{})
	if !ok {
		return nil, fmt.Errorf("%s: values must be a mapping", path)
	}
	return m, nil
}

// mergeValues merges src into dst like Helm's coalescing of user values over defaults:
// maps merge recursively, other values replace, a null in src deletes the key.
func mergeValues(dst, src map[string]interface{}) map[string]interface{} {
	for k, sv := range src {
		if sv == nil {
			delete(dst, k)
			continue
		}
		sm, sIsMap := sv.(map[string]interface{})
		dm, dIsMap := dst[k].(map[string]interface{})
		if sIsMap && dIsMap {
			dst[k] = mergeValues(dm, sm)
		} else {
			dst[k] = sv
		}
	}
	return dst
}

// typedVal types a --set value as Helm's strvals does: true/false, null, integers without
// a leading zero (int64); anything else is a string.
func typedVal(val string) interface{} {
	if strings.EqualFold(val, "true") {
		return true
	}
	if strings.EqualFold(val, "false") {
		return false
	}
	if strings.EqualFold(val, "null") {
		return nil
	}
	if val == "0" {
		return int64(0)
	}
	if len(val) != 0 && val[0] != '0' {
		if iv, err := strconv.ParseInt(val, 10, 64); err == nil {
			return iv
		}
	}
	return val
}

// setPath builds {a: {b: value}} for "a.b" (no list indexes or escapes: enough for tests).
func setPath(key string, value interface{}) (map[string]interface{}, error) {
	parts := strings.Split(key, ".")
	for _, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("bad key %q", key)
		}
	}
	var v interface{} = value
	for i := len(parts) - 1; i >= 0; i-- {
		v = map[string]interface{}{parts[i]: v}
	}
	return v.(map[string]interface{}), nil
}

func loadValues(chartDir string, o options) (map[string]interface{}, error) {
	vals := map[string]interface{}{}
	if _, err := os.Stat(filepath.Join(chartDir, "values.yaml")); err == nil {
		v, err := readValuesFile(filepath.Join(chartDir, "values.yaml"))
		if err != nil {
			return nil, err
		}
		vals = v
	}
	for _, f := range o.valueFiles {
		v, err := readValuesFile(f)
		if err != nil {
			return nil, err
		}
		vals = mergeValues(vals, v)
	}
	for _, s := range o.sets {
		i := strings.Index(s, "=")
		if i < 0 {
			return nil, fmt.Errorf("--set %s: want key=value", s)
		}
		m, err := setPath(s[:i], typedVal(s[i+1:]))
		if err != nil {
			return nil, fmt.Errorf("--set %s: %v", s, err)
		}
		vals = mergeValues(vals, m)
	}
	for _, s := range o.setFiles {
		i := strings.Index(s, "=")
		if i < 0 {
			return nil, fmt.Errorf("--set-file %s: want key=path", s)
		}
		data, err := os.ReadFile(s[i+1:])
		if err != nil {
			return nil, fmt.Errorf("--set-file %s: %v", s, err)
		}
		m, err := setPath(s[:i], string(data))
		if err != nil {
			return nil, fmt.Errorf("--set-file %s: %v", s, err)
		}
		vals = mergeValues(vals, m)
	}
	return vals, nil
}

// ---- YAML helpers with Helm's output ----------------------------------------------

// forYAML turns integral float64s back into integers, so 1048576 prints as 1048576 and not
// 1.048576e+06 (Helm's toYaml goes through JSON, which has the same effect).
func forYAML(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		m := make(map[string]interface{}, len(t))
		for k, x := range t {
			m[k] = forYAML(x)
		}
		return m
	case map[interface{}]interface{}:
		m := make(map[string]interface{}, len(t))
		for k, x := range t {
			m[fmt.Sprint(k)] = forYAML(x)
		}
		return m
	case []interface{}:
		l := make([]interface{}, len(t))
		for i, x := range t {
			l[i] = forYAML(x)
		}
		return l
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1<<53 {
			return int64(t)
		}
		return t
	case float32:
		return forYAML(float64(t))
	default:
		return v
	}
}

func toYAML(v interface{}) string {
	norm, err := toJSONish(v) // structs and odd maps become plain JSON-like values first
	if err != nil {
		return ""
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(forYAML(norm)); err != nil {
		return ""
	}
	enc.Close()
	return strings.TrimSuffix(buf.String(), "\n")
}

func fromYAML(str string) map[string]interface{} {
	m := map[string]interface{}{}
	var raw interface{}
	if err := yaml.Unmarshal([]byte(str), &raw); err != nil {
		m["Error"] = err.Error()
		return m
	}
	v, err := toJSONish(raw)
	if err != nil {
		m["Error"] = err.Error()
		return m
	}
	if mm, ok := v.(map[string]interface{}); ok {
		return mm
	}
	return m
}

func fromYAMLArray(str string) []interface{} {
	var raw interface{}
	if err := yaml.Unmarshal([]byte(str), &raw); err != nil {
		return []interface{}{err.Error()}
	}
	v, err := toJSONish(raw)
	if err != nil {
		return []interface{}{err.Error()}
	}
	if l, ok := v.([]interface{}); ok {
		return l
	}
	return []interface{}{}
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromJSON(str string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(str), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSONArray(str string) []interface{} {
	var a []interface{}
	if err := json.Unmarshal([]byte(str), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

// ---- rendering -----------------------------------------------------------------------

const recursionMax = 1000

func funcMap(root **template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env") // Helm removes these two
	delete(f, "expandenv")
	included := map[string]int{}
	f["include"] = func(name string, data interface{}) (string, error) {
		if included[name] > recursionMax {
			return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
		}
		included[name]++
		defer func() { included[name]-- }()
		var buf strings.Builder
		err := (*root).ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	f["tpl"] = func(text string, vals interface{}) (string, error) {
		top, ok := vals.(map[string]interface{})
		if !ok {
			return "", errors.New("tpl: the second argument must be the top-level context ($ or .)")
		}
		name := "tpl"
		if t, ok := top["Template"].(map[string]interface{}); ok {
			if n, ok := t["Name"].(string); ok {
				name = n
			}
		}
		clone, err := (*root).Clone()
		if err != nil {
			return "", err
		}
		t, err := clone.New(name + "#tpl").Parse(text)
		if err != nil {
			return "", fmt.Errorf("tpl: %v", err)
		}
		var buf strings.Builder
		if err := t.Execute(&buf, vals); err != nil {
			return "", err
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	f["required"] = func(warn string, val interface{}) (interface{}, error) {
		if val == nil {
			return val, errors.New(warn)
		}
		if s, ok := val.(string); ok && s == "" {
			return val, errors.New(warn)
		}
		return val, nil
	}
	f["fail"] = func(msg string) (string, error) { return "", errors.New(msg) }
	f["toYaml"] = toYAML
	f["fromYaml"] = fromYAML
	f["fromYamlArray"] = fromYAMLArray
	f["toJson"] = toJSON
	f["fromJson"] = fromJSON
	f["fromJsonArray"] = fromJSONArray
	f["lookup"] = func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	return f
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)

func render(chartDir string, o options) (string, string, []manifest, error) {
	chartFile := filepath.Join(chartDir, "Chart.yaml")
	data, err := os.ReadFile(chartFile)
	if err != nil {
		return "", "", nil, err
	}
	meta := &Metadata{}
	if err := yaml.Unmarshal(data, meta); err != nil {
		return "", "", nil, fmt.Errorf("%s: %v", chartFile, err)
	}
	if meta.Name == "" || meta.Version == "" {
		return "", "", nil, fmt.Errorf("%s: name and version are required", chartFile)
	}
	vals, err := loadValues(chartDir, o)
	if err != nil {
		return "", "", nil, err
	}

	kv := strings.TrimPrefix(o.kubeVersion, "v")
	parts := strings.SplitN(kv, ".", 3)
	for len(parts) < 2 {
		parts = append(parts, "0")
	}
	caps := &Capabilities{
		APIVersions: append(VersionSet(append([]string{}, defaultAPIVersions...)), o.apiVersions...),
		KubeVersion: KubeVersion{Version: "v" + kv, Major: parts[0], Minor: parts[1]},
		HelmVersion: map[string]string{"version": "v3.13.0"},
	}
	revision := 1
	if o.upgrade {
		revision = 2
	}
	release := map[string]interface{}{
		"Name": o.name, "Namespace": o.namespace, "Service": "Helm",
		"IsInstall": !o.upgrade, "IsUpgrade": o.upgrade, "Revision": revision,
	}

	tdir := filepath.Join(chartDir, "templates")
	var files []string
	err = filepath.Walk(tdir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !info.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", "", nil, err
	}
	sort.Strings(files)

	var root *template.Template
	root = template.New("gotpl").Option("missingkey=zero").Funcs(funcMap(&root))
	names := map[string]string{} // template name -> file
	var order []string
	for _, p := range files {
		rel, _ := filepath.Rel(chartDir, p)
		name := meta.Name + "/" + filepath.ToSlash(rel)
		text, err := os.ReadFile(p)
		if err != nil {
			return "", "", nil, err
		}
		if _, err := root.New(name).Parse(string(text)); err != nil {
			return "", "", nil, fmt.Errorf("parse error in %s: %v", name, err)
		}
		names[name] = p
		order = append(order, name)
	}

	basePath := meta.Name + "/templates"
	var notes string
	var mans []manifest
	for _, name := range order {
		base := filepath.Base(name)
		if strings.HasPrefix(base, "_") {
			continue
		}
		top := map[string]interface{}{
			"Values": vals, "Release": release, "Chart": meta, "Capabilities": caps,
			"Template": map[string]interface{}{"Name": name, "BasePath": basePath},
		}
		var buf strings.Builder
		if err := root.ExecuteTemplate(&buf, name, top); err != nil {
			return "", "", nil, err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if base == "NOTES.txt" {
			notes = text
			continue
		}
		for _, doc := range docSep.Split(text, -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			doc = strings.Trim(doc, "\n")
			var raw interface{}
			// Parsed as printed (with its final newline), as `helm template | kubectl`.
			if err := yaml.Unmarshal([]byte(doc+"\n"), &raw); err != nil {
				return "", "", nil, fmt.Errorf("YAML parse error on %s: %v\n%s", name, err,
					numbered(doc))
			}
			parsed, err := toJSONish(raw)
			if err != nil {
				return "", "", nil, fmt.Errorf("%s: %v", name, err)
			}
			m, ok := parsed.(map[string]interface{})
			if !ok {
				return "", "", nil, fmt.Errorf("%s: a manifest must be a mapping:\n%s", name,
					numbered(doc))
			}
			kind, _ := m["kind"].(string)
			if kind == "" {
				return "", "", nil, fmt.Errorf("%s: manifest without kind:\n%s", name,
					numbered(doc))
			}
			mans = append(mans, manifest{Source: name, Manifest: parsed, text: doc, kind: kind})
		}
	}

	rank := map[string]int{}
	for i, k := range installOrder {
		rank[k] = i
	}
	sort.SliceStable(mans, func(i, j int) bool {
		ri, ok := rank[mans[i].kind]
		if !ok {
			ri = len(installOrder)
		}
		rj, ok := rank[mans[j].kind]
		if !ok {
			rj = len(installOrder)
		}
		return ri < rj
	})
	var out strings.Builder
	for _, m := range mans {
		out.WriteString("---\n# Source: " + m.Source + "\n" + m.text + "\n")
	}
	return out.String(), notes, mans, nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

func numbered(doc string) string {
	var b strings.Builder
	for i, l := range strings.Split(doc, "\n") {
		b.WriteString(strconv.Itoa(i+1) + ": " + l + "\n")
	}
	return b.String()
}
