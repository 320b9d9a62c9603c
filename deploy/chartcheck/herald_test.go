package chartcheck

import (
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/herald-ci/herald/adapters"
	"github.com/herald-ci/herald/internal/config"
	"github.com/herald-ci/herald/internal/notify"
)

// heraldImage is how the files name herald's image; the container running
// it is the one checked.
var heraldImage = regexp.MustCompile(`(^|/)herald(:[^/]+)?$`)

// external names objects a deployment uses without holding them (the
// chart's existingSecret): kind/name.
type external map[string]bool

// checkSet runs every check on one deployment's objects and returns the
// herald configs it loaded, by Deployment name.
func checkSet(t *testing.T, s set, ext external) map[string]*config.Config {
	t.Helper()
	checkUnique(t, s)
	checkNoSecretInConfigMaps(t, s)
	checkServices(t, s)
	checkServiceMonitors(t, s)
	cfgs := map[string]*config.Config{}
	deployments := s.ofKind("Deployment")
	if len(deployments) == 0 {
		t.Fatal("no Deployment")
	}
	for _, o := range deployments {
		if cfg := checkDeployment(t, s, o, ext); cfg != nil {
			cfgs[o.name] = cfg
		}
	}
	return cfgs
}

// checkNoSecretInConfigMaps fails when a Secret's value appears in a
// ConfigMap, or in a Deployment other than inside a secretKeyRef.
func checkNoSecretInConfigMaps(t *testing.T, s set) {
	t.Helper()
	for _, so := range s.ofKind("Secret") {
		for key, v := range secretData(so.value.(*corev1.Secret)) {
			if len(v) < 8 { // too short to tell from ordinary text
				continue
			}
			for _, co := range s.ofKind("ConfigMap") {
				for file, content := range co.value.(*corev1.ConfigMap).Data {
					if strings.Contains(content, v) {
						t.Errorf("%s key %q: the value of %s key %q is in it", co, file, so, key)
					}
				}
			}
			for _, d := range s.ofKind("Deployment") {
				for _, c := range d.value.(*appsv1.Deployment).Spec.Template.Spec.Containers {
					for _, e := range c.Env {
						if strings.Contains(e.Value, v) {
							t.Errorf("%s container %s env %s: holds the value of %s key %q; use secretKeyRef", d, c.Name, e.Name, so, key)
						}
					}
				}
			}
		}
	}
}

// checkServices: each Service selects some Deployment's pods and targets a
// port they declare.
func checkServices(t *testing.T, s set) {
	t.Helper()
	for _, so := range s.ofKind("Service") {
		svc := so.value.(*corev1.Service)
		if len(svc.Spec.Selector) == 0 {
			t.Errorf("%s: no selector", so)
			continue
		}
		var pods []corev1.PodSpec
		for _, d := range s.ofKind("Deployment") {
			dep := d.value.(*appsv1.Deployment)
			if selects(svc.Spec.Selector, dep.Spec.Template.Labels) {
				pods = append(pods, dep.Spec.Template.Spec)
			}
		}
		if len(pods) == 0 {
			t.Errorf("%s: selector %v matches no Deployment's pods", so, svc.Spec.Selector)
			continue
		}
		for _, p := range svc.Spec.Ports {
			if p.Name == "" || p.Port == 0 {
				t.Errorf("%s: port %+v needs a name and a port", so, p)
			}
			if _, ok := podPort(pods[0], p.TargetPort); !ok {
				t.Errorf("%s port %s: targetPort %s is not a container port of the selected pods", so, p.Name, p.TargetPort.String())
			}
		}
	}
}

// checkServiceMonitors: each selects a Service and scrapes /metrics on one
// of its named ports.
func checkServiceMonitors(t *testing.T, s set) {
	t.Helper()
	for _, mo := range s.ofKind("ServiceMonitor") {
		sm := mo.value.(*serviceMonitor)
		var svc *corev1.Service
		for _, so := range s.ofKind("Service") {
			if selects(sm.Spec.Selector.MatchLabels, so.labels) {
				svc = so.value.(*corev1.Service)
			}
		}
		if svc == nil {
			t.Errorf("%s: selector %v matches no Service's labels", mo, sm.Spec.Selector.MatchLabels)
			continue
		}
		if len(sm.Spec.Endpoints) == 0 {
			t.Errorf("%s: no endpoints", mo)
		}
		for _, e := range sm.Spec.Endpoints {
			if e.Path != "/metrics" {
				t.Errorf("%s: path %q, want /metrics", mo, e.Path)
			}
			if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == e.Port }) {
				t.Errorf("%s: port %q is not a port of Service %s", mo, e.Port, svc.Name)
			}
		}
	}
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// podPort resolves a named or numbered port against the pod's containers.
func podPort(p corev1.PodSpec, port intstr.IntOrString) (int32, bool) {
	for _, c := range p.Containers {
		for _, cp := range c.Ports {
			if (port.Type == intstr.String && cp.Name == port.StrVal) || (port.Type == intstr.Int && cp.ContainerPort == port.IntVal) {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

// checkDeployment checks the herald container of one Deployment and loads
// its config as herald would in that pod.
func checkDeployment(t *testing.T, s set, o object, ext external) *config.Config {
	t.Helper()
	dep := o.value.(*appsv1.Deployment)
	pod := dep.Spec.Template.Spec
	if !selects(dep.Spec.Selector.MatchLabels, dep.Spec.Template.Labels) {
		t.Errorf("%s: selector %v does not match the pod labels %v", o, dep.Spec.Selector.MatchLabels, dep.Spec.Template.Labels)
	}
	var c *corev1.Container
	for i := range pod.Containers {
		if heraldImage.MatchString(pod.Containers[i].Image) {
			c = &pod.Containers[i]
		}
	}
	if c == nil {
		t.Errorf("%s: no herald container", o)
		return nil
	}
	where := o.String() + " container " + c.Name

	// Non-root, read-only root, nothing to escalate to.
	psc, sc := pod.SecurityContext, c.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if !ptrTrue(sc.RunAsNonRoot) && !ptrTrue(psc.RunAsNonRoot) {
		t.Errorf("%s: runAsNonRoot is not set", where)
	}
	if u := firstNonNil(sc.RunAsUser, psc.RunAsUser); u != nil && *u == 0 {
		t.Errorf("%s: runs as root", where)
	}
	if !ptrTrue(sc.ReadOnlyRootFilesystem) {
		t.Errorf("%s: readOnlyRootFilesystem is not true", where)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: allowPrivilegeEscalation is not false", where)
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("%s: capabilities do not drop ALL", where)
	}

	// Measured sizes, not guesses: requests and a memory limit.
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			t.Errorf("%s: no %s request", where, r)
		}
	}
	if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
		t.Errorf("%s: no memory limit", where)
	}

	// Mounts: each names a volume, none sits inside another (a mount point
	// cannot be made inside a read-only ConfigMap or Secret volume).
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	for i, m := range c.VolumeMounts {
		if _, ok := volumes[m.Name]; !ok {
			t.Errorf("%s: mount %s names no volume", where, m.Name)
		}
		for j, n := range c.VolumeMounts {
			if i != j && strings.HasPrefix(m.MountPath, strings.TrimSuffix(n.MountPath, "/")+"/") {
				t.Errorf("%s: mount %s (%s) is inside mount %s (%s)", where, m.Name, m.MountPath, n.Name, n.MountPath)
			}
		}
	}
	for _, v := range pod.Volumes {
		switch {
		case v.ConfigMap != nil:
			if _, ok := s.find("ConfigMap", v.ConfigMap.Name); !ok && !ext["ConfigMap/"+v.ConfigMap.Name] {
				t.Errorf("%s: volume %s: no ConfigMap %s", o, v.Name, v.ConfigMap.Name)
			}
		case v.Secret != nil:
			if _, ok := s.find("Secret", v.Secret.SecretName); !ok && !ext["Secret/"+v.Secret.SecretName] {
				t.Errorf("%s: volume %s: no Secret %s", o, v.Name, v.Secret.SecretName)
			}
		case v.PersistentVolumeClaim != nil:
			if _, ok := s.find("PersistentVolumeClaim", v.PersistentVolumeClaim.ClaimName); !ok && !ext["PersistentVolumeClaim/"+v.PersistentVolumeClaim.ClaimName] {
				t.Errorf("%s: volume %s: no PersistentVolumeClaim %s", o, v.Name, v.PersistentVolumeClaim.ClaimName)
			}
		}
	}

	// Environment: secrets by reference only, to Secrets that hold the key.
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			so, ok := s.find("Secret", ref.Name)
			if !ok {
				if !ext["Secret/"+ref.Name] {
					t.Errorf("%s: env %s: no Secret %s", where, e.Name, ref.Name)
				}
				env[e.Name] = "dummy-" + strings.ToLower(e.Name)
				continue
			}
			v, ok := secretData(so.value.(*corev1.Secret))[ref.Key]
			if !ok {
				t.Errorf("%s: env %s: Secret %s has no key %q", where, e.Name, ref.Name, ref.Key)
			}
			env[e.Name] = v
		case e.ValueFrom != nil:
			t.Errorf("%s: env %s: only secretKeyRef is expected", where, e.Name)
		default:
			env[e.Name] = e.Value
		}
	}

	// The command: serve with a config from a mounted ConfigMap.
	args := append(slices.Clone(c.Command), c.Args...)
	i := slices.Index(args, "--config")
	if len(args) == 0 || args[0] != "serve" || i < 0 || i+1 >= len(args) {
		t.Errorf("%s: args %q, want serve --config FILE", where, args)
		return nil
	}
	cfgPath := args[i+1]
	root := t.TempDir() // the container's files, as mounted
	for _, m := range c.VolumeMounts {
		v := volumes[m.Name]
		var files map[string]string
		switch {
		case v.ConfigMap != nil:
			if co, ok := s.find("ConfigMap", v.ConfigMap.Name); ok {
				files = co.value.(*corev1.ConfigMap).Data
			}
		case v.Secret != nil:
			if so, ok := s.find("Secret", v.Secret.SecretName); ok {
				files = secretData(so.value.(*corev1.Secret))
			}
		}
		dir := filepath.Join(root, m.MountPath)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	raw, err := os.ReadFile(filepath.Join(root, cfgPath))
	if err != nil {
		t.Errorf("%s: --config %s is not a file of a mounted ConfigMap: %v", where, cfgPath, err)
		return nil
	}
	cfg := loadConfig(t, where, string(raw), root, c.VolumeMounts, env)
	if cfg == nil {
		return nil
	}

	// Listen on every interface (the kubelet probes the pod IP), on the
	// port the container declares; probes on herald's paths and port.
	host, portStr, _ := net.SplitHostPort(cfg.Listen)
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		t.Errorf("%s: listen %s: the kubelet's probes reach the pod IP; listen on 0.0.0.0", where, cfg.Listen)
	}
	port, _ := strconv.Atoi(portStr)
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return int(p.ContainerPort) == port && p.Name != "" }) {
		t.Errorf("%s: listen port %d is not a named container port (%v)", where, port, c.Ports)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"livenessProbe", c.LivenessProbe, "/healthz"}, {"readinessProbe", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s: no HTTP %s", where, p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path {
			t.Errorf("%s: %s path %q, want %s", where, p.name, p.probe.HTTPGet.Path, p.path)
		}
		if got, ok := podPort(corev1.PodSpec{Containers: []corev1.Container{*c}}, p.probe.HTTPGet.Port); !ok || int(got) != port {
			t.Errorf("%s: %s port %s is not herald's listen port %d", where, p.name, p.probe.HTTPGet.Port.String(), port)
		}
		if p.probe.TimeoutSeconds > 0 && p.probe.PeriodSeconds > 0 && p.probe.TimeoutSeconds > p.probe.PeriodSeconds {
			t.Errorf("%s: %s timeout %ds is longer than its period %ds", where, p.name, p.probe.TimeoutSeconds, p.probe.PeriodSeconds)
		}
	}

	// The store: SQLite is one process on a writable volume, replaced
	// (Recreate), never rolled; several replicas need PostgreSQL.
	replicas := int32(1)
	if dep.Spec.Replicas != nil {
		replicas = *dep.Spec.Replicas
	}
	switch cfg.Store.Driver {
	case "sqlite":
		if replicas > 1 {
			t.Errorf("%s: %d replicas on SQLite; SQLite serves one process", o, replicas)
		}
		if dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			t.Errorf("%s: strategy %q on SQLite: a rolling update starts a second writer; use Recreate", o, dep.Spec.Strategy.Type)
		}
		dsn := cfg.Store.DSN.Value()
		m := mountOf(c.VolumeMounts, dsn)
		if m == nil || m.ReadOnly || volumes[m.Name].ConfigMap != nil || volumes[m.Name].Secret != nil {
			t.Errorf("%s: the SQLite file %s is not on a writable volume", where, dsn)
		}
	case "postgres":
		if !strings.HasPrefix(cfg.Store.DSN.Value(), "postgres") && !strings.HasPrefix(cfg.Store.DSN.Value(), "dummy-") {
			t.Errorf("%s: the PostgreSQL DSN does not look like one", where)
		}
	}
	if m := mountOf(c.VolumeMounts, "/tmp/x"); m == nil {
		t.Errorf("%s: no writable /tmp on a read-only root", where)
	}
	return cfg
}

// loadConfig loads herald.yaml the way serve does in the pod: ${VAR} from
// the container's environment only, *_file paths under the mounts, the
// exposure check, and every destination's adapter and templates. Paths are
// moved under root, where the mounts' files were written.
func loadConfig(t *testing.T, where, raw, root string, mounts []corev1.VolumeMount, env map[string]string) *config.Config {
	t.Helper()
	for _, m := range envRef.FindAllStringSubmatch(raw, -1) {
		if _, ok := env[m[1]]; !ok && m[2] == "" {
			t.Errorf("%s: config reads ${%s}, which the container's env does not set", where, m[1])
		}
		t.Setenv(m[1], "") // restored after the test
		os.Unsetenv(m[1])
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	// A mount path, or a path below it, anywhere in the text; longest
	// first, so /etc/herald/secrets is not taken for /etc/herald; one pass,
	// since root itself may be under /tmp.
	ms := slices.Clone(mounts)
	slices.SortFunc(ms, func(a, b corev1.VolumeMount) int { return len(b.MountPath) - len(a.MountPath) })
	var alts []string
	for _, m := range ms {
		alts = append(alts, regexp.QuoteMeta(strings.TrimSuffix(m.MountPath, "/")))
	}
	moved := raw
	if len(alts) > 0 {
		re := regexp.MustCompile(`(` + strings.Join(alts, "|") + `)(/|\b|$)`)
		moved = re.ReplaceAllStringFunc(raw, func(m string) string {
			if dir, slash := strings.CutSuffix(m, "/"); slash {
				return filepath.Join(root, dir) + "/"
			}
			return filepath.Join(root, m)
		})
	}
	cfg, err := config.Parse([]byte(moved), root)
	if err != nil {
		t.Errorf("%s: herald's config does not load: %v", where, err)
		return nil
	}
	if _, err := cfg.CheckExposure(); err != nil {
		t.Errorf("%s: serve would refuse this config: %v", where, err)
	}
	if _, err := adapters.NewSet(cfg, notify.Client(cfg.Delivery.Timeout), zerolog.Nop()); err != nil {
		t.Errorf("%s: destinations or templates do not load: %v", where, err)
	}
	// Report paths as the pod sees them.
	if rel, ok := strings.CutPrefix(cfg.Store.DSN.Value(), root); ok {
		cfg.Store.DSN = config.Secret(rel)
	}
	return cfg
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// mountOf is the mount holding file p, if any.
func mountOf(mounts []corev1.VolumeMount, p string) *corev1.VolumeMount {
	var best *corev1.VolumeMount
	for i, m := range mounts {
		if strings.HasPrefix(path.Clean(p), strings.TrimSuffix(m.MountPath, "/")+"/") && (best == nil || len(m.MountPath) > len(best.MountPath)) {
			best = &mounts[i]
		}
	}
	return best
}

func ptrTrue(b *bool) bool { return b != nil && *b }

func firstNonNil[T any](ps ...*T) *T {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}
