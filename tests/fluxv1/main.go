// Command fluxv1-sync prints what Flux v1.25's sync sends to `kubectl apply`
// for a checkout: every resource under the given paths, re-encoded the way
// Flux re-encoded it (gopkg.in/yaml.v2, the version Flux pinned), with the
// garbage-collection mark label and the sync-checksum annotation Flux
// computed for it. The migration tests pipe its output into a real
// `kubectl apply -f -`, leaving a cluster in the state Flux v1 leaves.
//
// It follows Flux's pkg/cluster/kubernetes/resource/load.go (chart
// directories skipped, `*.yaml`/`*.yml`, multi-document files, `*List`
// kinds expanded), its namespacer (namespaced kinds without a namespace get
// the default one) and pkg/cluster/kubernetes/sync.go (checksum = SHA-1 of
// the re-encoded document; mark = sha256 of the sync set name and the id;
// both merged into the metadata without overwriting what is there). The
// scope of kinds comes from --cluster-scoped, as Flux had it from discovery.
//
// Usage:
//
//	fluxv1-sync --root DIR --url URL --branch BRANCH [--path P]... \
//	    --default-namespace NS --cluster-scoped Kind,Kind --ids FILE
//
// stdout: the YAML stream for kubectl. --ids: one JSON object per resource
// ({"id", "checksum", "mark", "source"}), one per line.
package main

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	yaml "gopkg.in/yaml.v2"
)

type paths []string

func (p *paths) String() string     { return strings.Join(*p, ",") }
func (p *paths) Set(v string) error { *p = append(*p, v); return nil }

type resource struct {
	id     string
	source string
	bytes  []byte
}

type record struct {
	ID       string `json:"id"`
	Checksum string `json:"checksum"`
	Mark     string `json:"mark"`
	Source   string `json:"source"`
}

func main() {
	root := flag.String("root", "", "the checkout")
	gitURL := flag.String("url", "", "--git-url as Flux was given it")
	branch := flag.String("branch", "master", "--git-branch")
	var gitPaths paths
	flag.Var(&gitPaths, "path", "--git-path (repeat)")
	defaultNamespace := flag.String("default-namespace", "default", "the namespace of namespace-less resources")
	clusterScoped := flag.String("cluster-scoped", "", "comma-separated cluster-scoped kinds")
	idsFile := flag.String("ids", "", "where to write the resources' ids, checksums and marks")
	flag.Parse()
	if *root == "" || *gitURL == "" || *idsFile == "" {
		fail(fmt.Errorf("--root, --url and --ids are required"))
	}
	scoped := map[string]bool{}
	for _, kind := range strings.Split(*clusterScoped, ",") {
		if kind != "" {
			scoped[kind] = true
		}
	}
	setName := syncSetName(safeURL(*gitURL), *branch, gitPaths)
	roots := []string(gitPaths)
	if len(roots) == 0 {
		roots = []string{*root}
	} else {
		for i, p := range roots {
			roots[i] = filepath.Join(*root, p)
		}
	}
	resources, err := load(*root, roots, scoped, *defaultNamespace)
	if err != nil {
		fail(err)
	}
	ids := sortedKeys(resources)
	var stream bytes.Buffer
	var records bytes.Buffer
	for _, id := range ids {
		res := resources[id]
		sum := sha1.Sum(res.bytes)
		checksum := hex.EncodeToString(sum[:])
		mark := gcMark(setName, id)
		namespace := strings.SplitN(id, ":", 2)[0]
		doc, err := applyMetadata(res.bytes, namespace, mark, checksum)
		if err != nil {
			fail(fmt.Errorf("%s: %w", res.source, err))
		}
		stream.WriteString("---\n")
		stream.Write(doc)
		line, _ := json.Marshal(record{ID: id, Checksum: checksum, Mark: mark, Source: res.source})
		records.Write(line)
		records.WriteByte('\n')
	}
	if err := os.WriteFile(*idsFile, records.Bytes(), 0o644); err != nil {
		fail(err)
	}
	os.Stdout.Write(stream.Bytes())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "fluxv1-sync:", err)
	os.Exit(1)
}

func sortedKeys(m map[string]resource) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// safeURL is the URL without its password, as Flux's git.Remote.SafeURL.
func safeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	return u.String()
}

func syncSetName(safe, branch string, gitPaths []string) string {
	h := sha256.New()
	h.Write([]byte(safe))
	h.Write([]byte(branch))
	for _, p := range gitPaths {
		h.Write([]byte(p))
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

func gcMark(setName, id string) string {
	h := sha256.New()
	h.Write([]byte(setName))
	h.Write([]byte(id))
	return "sha256." + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// load walks the roots as Flux's resource.Load did.
func load(base string, roots []string, scoped map[string]bool, defaultNamespace string) (map[string]resource, error) {
	charts := map[string]bool{}
	filepath.Walk(base, func(path string, info os.FileInfo, err error) error {
		if err == nil && info.IsDir() && isChart(path) {
			charts[path] = true
			return filepath.SkipDir
		}
		return nil
	})
	inChart := func(path string) bool {
		for p := path; p != "/" && p != "."; p = filepath.Dir(p) {
			if charts[p] {
				return true
			}
		}
		return false
	}
	out := map[string]resource{}
	for _, root := range roots {
		err := filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
			if err == nil && info.IsDir() {
				if charts[path] {
					return filepath.SkipDir
				}
				return nil
			}
			if filepath.Ext(path) != ".yaml" && filepath.Ext(path) != ".yml" {
				return nil
			}
			if inChart(path) {
				return nil
			}
			if err != nil {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			source, _ := filepath.Rel(base, path)
			docs, err := parseMultidoc(data, source, scoped, defaultNamespace)
			if err != nil {
				return err
			}
			for id, res := range docs {
				if first, ok := out[id]; ok {
					return fmt.Errorf("duplicate definition of '%s' (in %s and %s)", id, first.source, source)
				}
				out[id] = res
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// isChart: Flux looked for both Chart.yaml and values.yaml.
func isChart(dir string) bool {
	for _, name := range []string{"Chart.yaml", "values.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, name)); os.IsNotExist(err) {
			return false
		}
	}
	return true
}

type header struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Meta       struct {
		Namespace string `yaml:"namespace"`
		Name      string `yaml:"name"`
	} `yaml:"metadata"`
}

// parseMultidoc decodes each document generically and encodes it again: the
// bytes Flux kept, checksummed and sent.
func parseMultidoc(data []byte, source string, scoped map[string]bool, defaultNamespace string) (map[string]resource, error) {
	out := map[string]resource{}
	decoder := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var value interface{}
		err := decoder.Decode(&value)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", source, err)
		}
		encoded, err := yaml.Marshal(value)
		if err != nil {
			return nil, err
		}
		var head header
		if err := yaml.Unmarshal(encoded, &head); err != nil {
			return nil, fmt.Errorf("parsing %s: %w", source, err)
		}
		if head.Kind == "" {
			continue
		}
		items := [][]byte{encoded}
		if strings.HasSuffix(head.Kind, "List") {
			var list struct {
				Items []map[string]interface{} `yaml:"items"`
			}
			if err := yaml.Unmarshal(encoded, &list); err != nil {
				return nil, err
			}
			items = nil
			for _, item := range list.Items {
				itemBytes, err := yaml.Marshal(item)
				if err != nil {
					return nil, err
				}
				items = append(items, itemBytes)
			}
		}
		for _, item := range items {
			var h header
			if err := yaml.Unmarshal(item, &h); err != nil {
				return nil, err
			}
			namespace := h.Meta.Namespace
			if scoped[h.Kind] {
				namespace = "<cluster>"
			} else if namespace == "" {
				namespace = defaultNamespace
			}
			id := namespace + ":" + strings.ToLower(h.Kind) + "/" + h.Meta.Name
			if _, ok := out[id]; ok {
				return nil, fmt.Errorf("duplicate definition of '%s' (in %s)", id, source)
			}
			out[id] = resource{id: id, source: source, bytes: item}
		}
	}
}

// applyMetadata merges the mark, the checksum and the namespace into the
// document's metadata, keeping any value already there (mergo.Merge without
// overwrite, as Flux called it), and encodes it again.
func applyMetadata(doc []byte, namespace, mark, checksum string) ([]byte, error) {
	definition := map[interface{}]interface{}{}
	if err := yaml.Unmarshal(doc, &definition); err != nil {
		return nil, err
	}
	metadata, _ := definition["metadata"].(map[interface{}]interface{})
	if metadata == nil {
		metadata = map[interface{}]interface{}{}
	}
	if namespace != "<cluster>" {
		if current, _ := metadata["namespace"].(string); current == "" {
			metadata["namespace"] = namespace
		}
	}
	mergeString(metadata, "labels", "fluxcd.io/sync-gc-mark", mark)
	mergeString(metadata, "annotations", "fluxcd.io/sync-checksum", checksum)
	definition["metadata"] = metadata
	return yaml.Marshal(definition)
}

func mergeString(metadata map[interface{}]interface{}, field, key, value string) {
	inner, _ := metadata[field].(map[interface{}]interface{})
	if inner == nil {
		inner = map[interface{}]interface{}{}
	}
	if current, ok := inner[key]; !ok || current == nil || current == "" {
		inner[key] = value
	}
	metadata[field] = inner
}
