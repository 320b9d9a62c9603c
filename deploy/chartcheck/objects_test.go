package chartcheck

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// repoRoot is herald's repository, two levels up.
const repoRoot = "../.."

// object is one decoded Kubernetes document and where it came from.
type object struct {
	source     string // file (and document index) it came from
	apiVersion string
	kind       string
	name       string
	labels     map[string]string
	value      any // *appsv1.Deployment, *corev1.ConfigMap, ... or *serviceMonitor
}

func (o object) String() string {
	return fmt.Sprintf("%s %s/%s (%s)", o.apiVersion, o.kind, o.name, o.source)
}

// serviceMonitor is the part of the Prometheus Operator's ServiceMonitor
// herald's files use; decoded strictly like the rest, so a field outside it
// is reported (and then added here if it is right).
type serviceMonitor struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace,omitempty"`
		Labels    map[string]string `json:"labels,omitempty"`
	} `json:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval,omitempty"`
			ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// kinds are the API versions and kinds herald's files may hold, each with
// the type its documents decode into.
var kinds = map[string]func() any{
	"v1/ConfigMap":             func() any { return new(corev1.ConfigMap) },
	"v1/Secret":                func() any { return new(corev1.Secret) },
	"v1/Service":               func() any { return new(corev1.Service) },
	"v1/PersistentVolumeClaim": func() any { return new(corev1.PersistentVolumeClaim) },
	"apps/v1/Deployment":       func() any { return new(appsv1.Deployment) },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return new(serviceMonitor) },
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decode splits a YAML stream into documents and decodes each strictly.
// Empty documents (comments only) are skipped.
func decode(t *testing.T, source string, data []byte) []object {
	t.Helper()
	var out []object
	for i, doc := range docSep.Split(string(data), -1) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name   string            `json:"name"`
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Errorf("%s, document %d: not YAML: %v", source, i, err)
			continue
		}
		if head.APIVersion == "" && head.Kind == "" {
			var any map[string]any
			if yaml.Unmarshal([]byte(doc), &any) == nil && len(any) > 0 {
				t.Errorf("%s, document %d: no apiVersion and kind", source, i)
			}
			continue
		}
		where := fmt.Sprintf("%s#%d", source, i)
		newValue, ok := kinds[head.APIVersion+"/"+head.Kind]
		if !ok {
			t.Errorf("%s: unexpected apiVersion %q kind %q", where, head.APIVersion, head.Kind)
			continue
		}
		v := newValue()
		if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
			t.Errorf("%s: %s %s does not decode strictly: %v", where, head.APIVersion, head.Kind, err)
			continue
		}
		if head.Metadata.Name == "" {
			t.Errorf("%s: %s without metadata.name", where, head.Kind)
		} else if !dnsLabel.MatchString(head.Metadata.Name) {
			t.Errorf("%s: metadata.name %q is not a DNS-1123 name", where, head.Metadata.Name)
		}
		out = append(out, object{source: where, apiVersion: head.APIVersion, kind: head.Kind,
			name: head.Metadata.Name, labels: head.Metadata.Labels, value: v})
	}
	return out
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// readManifests decodes every *.yaml file under dir.
func readManifests(t *testing.T, dir string) []object {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	var out []object
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("\t")) {
			t.Errorf("%s: holds a tab", f)
		}
		out = append(out, decode(t, f, b)...)
	}
	return out
}

// set is the objects of one deployment (one render, or one directory).
type set []object

func (s set) find(kind, name string) (object, bool) {
	for _, o := range s {
		if o.kind == kind && o.name == name {
			return o, true
		}
	}
	return object{}, false
}

func (s set) ofKind(kind string) []object {
	var out []object
	for _, o := range s {
		if o.kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// secretData is a Secret's values, data and stringData alike.
func secretData(s *corev1.Secret) map[string]string {
	m := map[string]string{}
	for k, v := range s.Data {
		m[k] = string(v)
	}
	for k, v := range s.StringData {
		m[k] = v
	}
	return m
}

// checkUnique fails on two objects of one kind with one name.
func checkUnique(t *testing.T, s set) {
	t.Helper()
	seen := map[string]object{}
	for _, o := range s {
		k := o.kind + "/" + o.name
		if prev, ok := seen[k]; ok {
			t.Errorf("%s and %s have the same kind and name", prev, o)
		}
		seen[k] = o
	}
}
