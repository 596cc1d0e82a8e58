/*
 * The model is a tree of path components. Folder nodes exist only on the
 * way to a kept file or a symbolic link. Every other tar entry is looked up
 * and never stored, so memory follows what the scanners need rather than
 * the size of the image.
 *
 * One hash table, keyed by (parent node, name), indexes the children of
 * both the applied tree and the open change set's tree. Moving a subtree
 * from one tree to the other then rehashes only its top node, because the
 * keys of the nodes below it do not change. That is what lets
 * rootfs_layer_commit() finish without allocating.
 *
 * Deletions that a change set makes to lower layers are marks on the
 * applied tree's nodes, stamped with the change set's serial number.
 * Recording them costs no memory however many whiteouts a layer repeats,
 * and a discarded change set leaves only stale stamps that no later serial
 * matches.
 */
#include "rootfs.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INITIAL_BUCKETS 1024

enum node_kind {
    NODE_DIR,
    NODE_FILE,
    NODE_SYMLINK,
};

struct node {
    struct node *parent;
    struct node *hash_next;
    struct node *first_child;
    struct node *prev_sibling;
    struct node *next_sibling;
    enum node_kind kind;
    uint64_t deleted_in; /* serial of the change set deleting this subtree */
    uint64_t emptied_in; /* serial of the change set hiding its children */
    char *target;        /* NODE_SYMLINK */
    struct rootfs_file file; /* NODE_FILE; file.data is owned */
    size_t name_length;
    char name[];
};

struct rootfs {
    struct rootfs_limits limits;
    struct node *root;
    struct node **buckets;
    size_t bucket_count; /* a power of two */
    size_t node_count;
    /* The counts below cover the applied tree and the open change set, so
     * the limits hold for the model as it will be after a commit. */
    size_t file_count;
    size_t symlink_count;
    size_t file_bytes;
    uint64_t serial;
    struct rootfs_layer *open_layer;
    rootfs_recorder recorder;
    void *recorder_context;
};

struct rootfs_layer {
    struct rootfs *fs;
    struct node *root;
    uint64_t serial;
};

void rootfs_limits_init(struct rootfs_limits *limits)
{
    limits->max_file_bytes = (size_t)64 << 20;
    limits->max_total_bytes = (size_t)256 << 20;
    limits->max_symlinks = 200000;
    limits->max_path_bytes = 4096;
    limits->max_layer_entries = 1000000;
    limits->max_layer_bytes = (uint64_t)64 << 30;
}

static uint64_t hash_key(const struct node *parent, const char *name,
                         size_t length)
{
    uint64_t hash = 14695981039346656037ULL ^ (uint64_t)(uintptr_t)parent;

    for (size_t i = 0; i < length; i++) {
        hash ^= (unsigned char)name[i];
        hash *= 1099511628211ULL;
    }
    return hash ^ (hash >> 29);
}

static struct node **bucket_of(const struct rootfs *fs,
                               const struct node *parent, const char *name,
                               size_t length)
{
    uint64_t hash = hash_key(parent, name, length);

    return &fs->buckets[hash & (fs->bucket_count - 1)];
}

static struct node *node_child(const struct rootfs *fs,
                               const struct node *parent, const char *name,
                               size_t length)
{
    struct node *node = *bucket_of(fs, parent, name, length);

    for (; node; node = node->hash_next) {
        if (node->parent == parent && node->name_length == length &&
            memcmp(node->name, name, length) == 0)
            return node;
    }
    return NULL;
}

/* Doubles the bucket array when the table is full. A failed allocation
 * keeps the old array: chains get longer but lookups stay correct. */
static void hash_grow(struct rootfs *fs)
{
    if (fs->node_count < fs->bucket_count)
        return;

    size_t count = fs->bucket_count * 2;
    struct node **buckets = calloc(count, sizeof(*buckets));
    if (!buckets)
        return;

    for (size_t i = 0; i < fs->bucket_count; i++) {
        struct node *node = fs->buckets[i];
        while (node) {
            struct node *next = node->hash_next;
            uint64_t hash =
                hash_key(node->parent, node->name, node->name_length);
            struct node **head = &buckets[hash & (count - 1)];
            node->hash_next = *head;
            *head = node;
            node = next;
        }
    }
    free(fs->buckets);
    fs->buckets = buckets;
    fs->bucket_count = count;
}

static void hash_remove(struct rootfs *fs, struct node *node)
{
    struct node **link =
        bucket_of(fs, node->parent, node->name, node->name_length);

    while (*link != node)
        link = &(*link)->hash_next;
    *link = node->hash_next;
    node->hash_next = NULL;
}

/* Attaches node (and the subtree below it) under parent. */
static void node_link(struct rootfs *fs, struct node *parent, struct node *node)
{
    node->parent = parent;
    node->prev_sibling = NULL;
    node->next_sibling = parent->first_child;
    if (parent->first_child)
        parent->first_child->prev_sibling = node;
    parent->first_child = node;

    struct node **head = bucket_of(fs, parent, node->name, node->name_length);
    node->hash_next = *head;
    *head = node;
}

static void node_unlink(struct rootfs *fs, struct node *node)
{
    hash_remove(fs, node);
    if (node->prev_sibling)
        node->prev_sibling->next_sibling = node->next_sibling;
    else
        node->parent->first_child = node->next_sibling;
    if (node->next_sibling)
        node->next_sibling->prev_sibling = node->prev_sibling;
    node->prev_sibling = NULL;
    node->next_sibling = NULL;
}

static struct node *node_alloc(const char *name, size_t length,
                               enum node_kind kind)
{
    struct node *node = calloc(1, sizeof(*node) + length + 1);
    if (!node)
        return NULL;

    node->kind = kind;
    node->name_length = length;
    memcpy(node->name, name, length);
    return node;
}

static struct node *node_add(struct rootfs *fs, struct node *parent,
                             const char *name, size_t length,
                             enum node_kind kind)
{
    struct node *node = node_alloc(name, length, kind);
    if (!node)
        return NULL;

    hash_grow(fs);
    node_link(fs, parent, node);
    fs->node_count++;
    return node;
}

/* Frees one node that is already unlinked and has no children. */
static void node_release(struct rootfs *fs, struct node *node)
{
    assert(!node->first_child);

    if (node->kind == NODE_FILE) {
        fs->file_count--;
        fs->file_bytes -= node->file.size;
        free((char *)node->file.data);
    } else if (node->kind == NODE_SYMLINK) {
        fs->symlink_count--;
        free(node->target);
    }
    fs->node_count--;
    free(node);
}

/* Unlinks and frees node with everything below it, without recursion so
 * that deep trees cannot exhaust the stack. */
static void subtree_free(struct rootfs *fs, struct node *top)
{
    node_unlink(fs, top);

    struct node *node = top;
    for (;;) {
        while (node->first_child)
            node = node->first_child;
        if (node == top)
            break;

        struct node *parent = node->parent;
        node_unlink(fs, node);
        node_release(fs, node);
        node = parent;
    }
    node_release(fs, top);
}

static void children_free(struct rootfs *fs, struct node *dir)
{
    while (dir->first_child)
        subtree_free(fs, dir->first_child);
}

/* Returns the length of the component starting at path. */
static size_t component_length(const char *path)
{
    const char *slash = strchr(path, '/');

    return slash ? (size_t)(slash - path) : strlen(path);
}

/* Follows path literally (no symbolic links) from root. */
static struct node *tree_lookup(const struct rootfs *fs, struct node *root,
                                const char *path)
{
    struct node *node = root;

    while (node && *path) {
        size_t length = component_length(path);
        if (length > 0)
            node = node_child(fs, node, path, length);
        path += length;
        if (*path == '/')
            path++;
    }
    return node;
}

/*
 * Creates the folders leading to path's last component under root and
 * returns the innermost one, with *leaf pointing at the last component.
 * A file or link in the way becomes a folder, as extracting the layer
 * would make it. Returns NULL when out of memory.
 */
static struct node *tree_make_parent(struct rootfs *fs, struct node *root,
                                     const char *path, const char **leaf)
{
    struct node *dir = root;

    for (;;) {
        size_t length = component_length(path);
        if (path[length] == '\0')
            break;

        struct node *child = node_child(fs, dir, path, length);
        if (child && child->kind != NODE_DIR) {
            subtree_free(fs, child);
            child = NULL;
        }
        if (!child)
            child = node_add(fs, dir, path, length, NODE_DIR);
        if (!child)
            return NULL;
        dir = child;
        path += length + 1;
    }
    *leaf = path;
    return dir;
}

struct rootfs *rootfs_new(const struct rootfs_limits *limits)
{
    struct rootfs *fs = calloc(1, sizeof(*fs));
    if (!fs)
        return NULL;

    if (limits)
        fs->limits = *limits;
    else
        rootfs_limits_init(&fs->limits);

    fs->bucket_count = INITIAL_BUCKETS;
    fs->buckets = calloc(fs->bucket_count, sizeof(*fs->buckets));
    if (!fs->buckets)
        goto out_free_fs;

    fs->root = node_alloc("", 0, NODE_DIR);
    if (!fs->root)
        goto out_free_buckets;
    return fs;

out_free_buckets:
    free(fs->buckets);
out_free_fs:
    free(fs);
    return NULL;
}

void rootfs_free(struct rootfs *fs)
{
    if (!fs)
        return;

    rootfs_layer_free(fs->open_layer);
    children_free(fs, fs->root);
    free(fs->root);
    free(fs->buckets);
    free(fs);
}

const struct rootfs_limits *rootfs_get_limits(const struct rootfs *fs)
{
    return &fs->limits;
}

size_t rootfs_file_count(const struct rootfs *fs)
{
    return fs->file_count;
}

size_t rootfs_symlink_count(const struct rootfs *fs)
{
    return fs->symlink_count;
}

static bool component_is(const char *name, size_t length, const char *word)
{
    return length == strlen(word) && memcmp(name, word, length) == 0;
}

enum rootfs_keep rootfs_classify(const char *path)
{
    const char *names[3] = {"", "", ""};
    size_t lengths[3] = {0, 0, 0};
    size_t end = strlen(path);

    /* names[0] is the last component, names[1] its folder, names[2] the
     * folder above. */
    for (int i = 0; i < 3 && end > 0; i++) {
        size_t start = end;
        while (start > 0 && path[start - 1] != '/')
            start--;
        names[i] = path + start;
        lengths[i] = end - start;
        end = start > 0 ? start - 1 : 0;
    }

    if (component_is(names[0], lengths[0], "os-release"))
        return ROOTFS_KEEP;
    /* Any folder: var/lib/dpkg may be a symbolic link to a folder of any
     * name, and the lookup through var/lib/dpkg finds the file there. */
    if (component_is(names[0], lengths[0], "status"))
        return ROOTFS_KEEP;
    if (component_is(names[1], lengths[1], "status.d") &&
        component_is(names[2], lengths[2], "dpkg")) {
        /* distroless ships checksum lists beside each package stanza */
        size_t suffix = strlen(".md5sums");
        if (lengths[0] >= suffix &&
            memcmp(names[0] + lengths[0] - suffix, ".md5sums", suffix) == 0)
            return ROOTFS_SKIP;
        return lengths[0] > 0 ? ROOTFS_KEEP : ROOTFS_SKIP;
    }
    if (component_is(names[0], lengths[0], "installed") &&
        component_is(names[1], lengths[1], "db") &&
        component_is(names[2], lengths[2], "apk"))
        return ROOTFS_KEEP;
    return ROOTFS_SKIP;
}

/*
 * Resolves path through symbolic links in the applied tree. *out is the
 * node reached: a file, or a folder (the root for an empty path).
 *
 * Components the model does not hold are followed as untracked folders,
 * so "a/missing/../b" finds "a/b": every symbolic link is in the model,
 * so an untracked component can only be a plain folder or file.
 */
static enum rootfs_lookup
resolve_node(const struct rootfs *fs, const char *path, const struct node **out)
{
    char *pending = strdup(path);
    if (!pending)
        return ROOTFS_LOOKUP_NO_MEMORY;

    const struct node *dir = fs->root;
    size_t untracked = 0;
    size_t position = 0;
    int hops = 0;
    enum rootfs_lookup result = ROOTFS_LOOKUP_NOT_FOUND;

    for (;;) {
        while (pending[position] == '/')
            position++;
        if (pending[position] == '\0')
            break;

        const char *name = pending + position;
        size_t length = component_length(name);
        position += length;
        size_t rest = position;
        while (pending[rest] == '/')
            rest++;
        bool last = pending[rest] == '\0';

        if (component_is(name, length, "."))
            continue;
        if (component_is(name, length, "..")) {
            if (untracked > 0)
                untracked--;
            else if (dir != fs->root)
                dir = dir->parent;
            continue;
        }
        if (untracked > 0) {
            untracked++;
            continue;
        }

        const struct node *child = node_child(fs, dir, name, length);
        if (!child) {
            untracked = 1;
            continue;
        }
        if (child->kind == NODE_DIR) {
            dir = child;
            continue;
        }
        if (child->kind == NODE_FILE) {
            if (last) {
                *out = child;
                result = ROOTFS_LOOKUP_FOUND;
            }
            goto out_free_pending;
        }

        if (++hops > ROOTFS_MAX_SYMLINK_HOPS) {
            result = ROOTFS_LOOKUP_LOOP;
            goto out_free_pending;
        }

        /* Continue with the link's target followed by what is left. */
        const char *target = child->target;
        size_t target_length = strlen(target);
        size_t tail_length = strlen(pending + position);
        char *next = malloc(target_length + 1 + tail_length + 1);
        if (!next) {
            result = ROOTFS_LOOKUP_NO_MEMORY;
            goto out_free_pending;
        }
        memcpy(next, target, target_length);
        next[target_length] = '/';
        memcpy(next + target_length + 1, pending + position, tail_length + 1);
        free(pending);
        pending = next;
        position = 0;
        if (target[0] == '/')
            dir = fs->root;
    }

    if (untracked == 0) {
        *out = dir;
        result = ROOTFS_LOOKUP_FOUND;
    }

out_free_pending:
    free(pending);
    return result;
}

enum rootfs_lookup rootfs_resolve(const struct rootfs *fs, const char *path,
                                  const struct rootfs_file **file)
{
    const struct node *node = NULL;
    enum rootfs_lookup result = resolve_node(fs, path, &node);

    if (result != ROOTFS_LOOKUP_FOUND)
        return result;
    if (node->kind != NODE_FILE)
        return ROOTFS_LOOKUP_NOT_FOUND;
    *file = &node->file;
    return ROOTFS_LOOKUP_FOUND;
}

const struct rootfs_file *rootfs_find(const struct rootfs *fs, const char *path)
{
    const struct rootfs_file *file = NULL;

    if (rootfs_resolve(fs, path, &file) != ROOTFS_LOOKUP_FOUND)
        return NULL;
    return file;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void rootfs_names_free(char **names, size_t count)
{
    if (!names)
        return;

    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

enum rootfs_lookup rootfs_list_dir(const struct rootfs *fs, const char *path,
                                   char ***names, size_t *count)
{
    *names = NULL;
    *count = 0;

    const struct node *dir = NULL;
    enum rootfs_lookup result = resolve_node(fs, path, &dir);
    if (result != ROOTFS_LOOKUP_FOUND)
        return result;
    if (dir->kind != NODE_DIR)
        return ROOTFS_LOOKUP_NOT_FOUND;

    size_t total = 0;
    for (const struct node *c = dir->first_child; c; c = c->next_sibling)
        total += c->kind != NODE_DIR;

    char **list = calloc(total + 1, sizeof(*list));
    if (!list)
        return ROOTFS_LOOKUP_NO_MEMORY;

    size_t used = 0;
    for (const struct node *c = dir->first_child; c; c = c->next_sibling) {
        if (c->kind == NODE_DIR)
            continue;
        list[used] = strdup(c->name);
        if (!list[used]) {
            rootfs_names_free(list, used);
            return ROOTFS_LOOKUP_NO_MEMORY;
        }
        used++;
    }

    qsort(list, used, sizeof(*list), compare_names);
    *names = list;
    *count = used;
    return ROOTFS_LOOKUP_FOUND;
}

struct rootfs_layer *rootfs_layer_new(struct rootfs *fs)
{
    assert(!fs->open_layer);

    struct rootfs_layer *layer = calloc(1, sizeof(*layer));
    if (!layer)
        return NULL;

    layer->root = node_alloc("", 0, NODE_DIR);
    if (!layer->root) {
        free(layer);
        return NULL;
    }
    layer->fs = fs;
    layer->serial = ++fs->serial;
    fs->open_layer = layer;
    return layer;
}

void rootfs_layer_free(struct rootfs_layer *layer)
{
    if (!layer)
        return;

    children_free(layer->fs, layer->root);
    free(layer->root);
    layer->fs->open_layer = NULL;
    free(layer);
}

static enum rootfs_status no_memory(const char *path, char *errbuf,
                                    size_t errbuf_size)
{
    snprintf(errbuf, errbuf_size, "out of memory while adding %s", path);
    return ROOTFS_NO_MEMORY;
}

enum rootfs_status rootfs_layer_check_file(struct rootfs_layer *layer,
                                           const char *path, uint64_t size,
                                           char *errbuf, size_t errbuf_size)
{
    const struct rootfs *fs = layer->fs;

    if (size > fs->limits.max_file_bytes) {
        snprintf(errbuf, errbuf_size,
                 "%s is %llu bytes, over the limit of %zu bytes for one "
                 "kept file (max_file_bytes)",
                 path, (unsigned long long)size, fs->limits.max_file_bytes);
        return ROOTFS_TOO_LARGE;
    }
    if (fs->file_bytes > fs->limits.max_total_bytes ||
        size > fs->limits.max_total_bytes - fs->file_bytes) {
        snprintf(errbuf, errbuf_size,
                 "%s (%llu bytes) would bring the kept files to more than "
                 "%zu bytes (max_total_bytes)",
                 path, (unsigned long long)size, fs->limits.max_total_bytes);
        return ROOTFS_TOO_LARGE;
    }
    return ROOTFS_OK;
}

/* Replaces whatever the change set has at path with a new leaf node. */
static struct node *layer_add_leaf(struct rootfs_layer *layer, const char *path,
                                   enum node_kind kind)
{
    const char *leaf = NULL;
    struct node *dir = tree_make_parent(layer->fs, layer->root, path, &leaf);
    if (!dir)
        return NULL;

    size_t length = strlen(leaf);
    struct node *old = node_child(layer->fs, dir, leaf, length);
    if (old)
        subtree_free(layer->fs, old);
    return node_add(layer->fs, dir, leaf, length, kind);
}

enum rootfs_status rootfs_layer_put_file(struct rootfs_layer *layer,
                                         const char *path, char *data,
                                         size_t size, char *errbuf,
                                         size_t errbuf_size)
{
    struct rootfs *fs = layer->fs;
    assert(path[0] != '\0');

    struct node *old = tree_lookup(fs, layer->root, path);
    if (old)
        subtree_free(fs, old);

    enum rootfs_status status =
        rootfs_layer_check_file(layer, path, size, errbuf, errbuf_size);
    if (status != ROOTFS_OK)
        goto out_free_data;

    struct node *node = layer_add_leaf(layer, path, NODE_FILE);
    if (!node) {
        status = no_memory(path, errbuf, errbuf_size);
        goto out_free_data;
    }
    node->file.data = data;
    node->file.size = size;
    fs->file_count++;
    fs->file_bytes += size;
    return ROOTFS_OK;

out_free_data:
    free(data);
    return status;
}

enum rootfs_status rootfs_layer_put_symlink(struct rootfs_layer *layer,
                                            const char *path,
                                            const char *target, char *errbuf,
                                            size_t errbuf_size)
{
    struct rootfs *fs = layer->fs;
    size_t target_length = strlen(target);

    if (target_length > fs->limits.max_path_bytes) {
        snprintf(errbuf, errbuf_size,
                 "%s: symbolic link target of %zu bytes is over the limit of "
                 "%zu bytes (max_path_bytes)",
                 path, target_length, fs->limits.max_path_bytes);
        return ROOTFS_TOO_LARGE;
    }

    /* Copied first: target may belong to the node this link replaces. */
    char *copy = strdup(target);
    if (!copy)
        return no_memory(path, errbuf, errbuf_size);

    struct node *old = tree_lookup(fs, layer->root, path);
    if (old)
        subtree_free(fs, old);

    if (fs->symlink_count >= fs->limits.max_symlinks) {
        snprintf(errbuf, errbuf_size,
                 "%s: the image has more than %zu symbolic links "
                 "(max_symlinks)",
                 path, fs->limits.max_symlinks);
        free(copy);
        return ROOTFS_TOO_LARGE;
    }

    struct node *node = layer_add_leaf(layer, path, NODE_SYMLINK);
    if (!node) {
        free(copy);
        return no_memory(path, errbuf, errbuf_size);
    }
    node->target = copy;
    fs->symlink_count++;
    return ROOTFS_OK;
}

enum rootfs_status rootfs_layer_put_directory(struct rootfs_layer *layer,
                                              const char *path, char *errbuf,
                                              size_t errbuf_size)
{
    struct rootfs *fs = layer->fs;
    (void)errbuf;
    (void)errbuf_size;

    struct node *upper = tree_lookup(fs, layer->root, path);
    if (upper && upper->kind != NODE_DIR)
        subtree_free(fs, upper);

    struct node *lower = tree_lookup(fs, fs->root, path);
    if (lower && lower->kind != NODE_DIR)
        lower->deleted_in = layer->serial;
    return ROOTFS_OK;
}

enum rootfs_status rootfs_layer_put_other(struct rootfs_layer *layer,
                                          const char *path, char *errbuf,
                                          size_t errbuf_size)
{
    struct rootfs *fs = layer->fs;
    (void)errbuf;
    (void)errbuf_size;

    struct node *upper = tree_lookup(fs, layer->root, path);
    if (upper)
        subtree_free(fs, upper);

    struct node *lower = tree_lookup(fs, fs->root, path);
    if (lower)
        lower->deleted_in = layer->serial;
    return ROOTFS_OK;
}

/* Finds a hard link's target: earlier in this layer, else in the model. */
static const struct node *hardlink_source(struct rootfs_layer *layer,
                                          const char *target)
{
    const struct node *node = tree_lookup(layer->fs, layer->root, target);

    if (node && node->kind != NODE_DIR)
        return node;
    node = tree_lookup(layer->fs, layer->fs->root, target);
    if (node && node->kind != NODE_DIR)
        return node;
    return NULL;
}

enum rootfs_status rootfs_layer_put_hardlink(struct rootfs_layer *layer,
                                             const char *path,
                                             const char *target, int *resolved,
                                             char *errbuf, size_t errbuf_size)
{
    const struct node *source = hardlink_source(layer, target);
    bool kept = rootfs_classify(path) == ROOTFS_KEEP;

    *resolved = 1;
    if (source && source->kind == NODE_SYMLINK)
        return rootfs_layer_put_symlink(layer, path, source->target, errbuf,
                                        errbuf_size);

    if (!kept || !source) {
        *resolved = !kept;
        return rootfs_layer_put_other(layer, path, errbuf, errbuf_size);
    }

    size_t size = source->file.size;
    char *copy = malloc(size + 1);
    if (!copy)
        return no_memory(path, errbuf, errbuf_size);
    memcpy(copy, source->file.data, size + 1);
    return rootfs_layer_put_file(layer, path, copy, size, errbuf, errbuf_size);
}

enum rootfs_status rootfs_layer_whiteout(struct rootfs_layer *layer,
                                         const char *path, char *errbuf,
                                         size_t errbuf_size)
{
    struct rootfs *fs = layer->fs;
    (void)errbuf;
    (void)errbuf_size;

    struct node *lower = tree_lookup(fs, fs->root, path);
    if (lower && lower != fs->root)
        lower->deleted_in = layer->serial;
    return ROOTFS_OK;
}

enum rootfs_status rootfs_layer_opaque(struct rootfs_layer *layer,
                                       const char *dir, char *errbuf,
                                       size_t errbuf_size)
{
    struct rootfs *fs = layer->fs;
    (void)errbuf;
    (void)errbuf_size;

    struct node *lower = tree_lookup(fs, fs->root, dir);
    if (!lower)
        return ROOTFS_OK;
    if (lower->kind == NODE_DIR)
        lower->emptied_in = layer->serial;
    else
        lower->deleted_in = layer->serial;
    return ROOTFS_OK;
}

/* Returns the node after node's subtree in a depth-first walk of root. */
static struct node *next_after_subtree(const struct node *root,
                                       struct node *node)
{
    while (node != root) {
        if (node->next_sibling)
            return node->next_sibling;
        node = node->parent;
    }
    return NULL;
}

/* Deletes what the change set with this serial marked in the tree. */
static void apply_deletions(struct rootfs *fs, uint64_t serial)
{
    struct node *root = fs->root;

    if (root->emptied_in == serial)
        children_free(fs, root);

    struct node *node = root->first_child;
    while (node) {
        if (node->deleted_in == serial) {
            struct node *next = next_after_subtree(root, node);
            subtree_free(fs, node);
            node = next;
            continue;
        }
        if (node->emptied_in == serial)
            children_free(fs, node);
        if (node->first_child)
            node = node->first_child;
        else
            node = next_after_subtree(root, node);
    }
}

/*
 * Moves the change set's nodes into the applied tree. A change-set leaf
 * replaces whatever is at its path. A change-set folder merges into an
 * applied folder at its path, and replaces an applied file or link.
 *
 * NOTE: when a layer puts an entry under a path that a lower layer made a
 * symbolic link, without a folder entry for that path, docker and
 * containerd extract it through the link, while here the folder replaces
 * the link. Layers made from a filesystem diff carry the folder entry, and
 * then both agree.
 */
static void merge_layer(struct rootfs *fs, struct node *upper_root)
{
    struct node *udir = upper_root;
    struct node *mdir = fs->root;
    struct node *node = udir->first_child;

    for (;;) {
        if (!node) {
            if (udir == upper_root)
                break;
            struct node *done = udir;
            node = done->next_sibling;
            udir = done->parent;
            mdir = mdir->parent;
            node_unlink(fs, done);
            node_release(fs, done);
            continue;
        }

        struct node *next = node->next_sibling;
        struct node *lower =
            node_child(fs, mdir, node->name, node->name_length);
        if (node->kind == NODE_DIR && lower && lower->kind == NODE_DIR) {
            udir = node;
            mdir = lower;
            node = node->first_child;
            continue;
        }
        if (lower)
            subtree_free(fs, lower);
        node_unlink(fs, node);
        node_link(fs, mdir, node);
        node = next;
    }
}

void rootfs_layer_commit(struct rootfs_layer *layer)
{
    struct rootfs *fs = layer->fs;

    apply_deletions(fs, layer->serial);
    merge_layer(fs, layer->root);
    rootfs_layer_free(layer);
}

int rootfs_is_empty(const struct rootfs *fs)
{
    return fs->root->first_child == NULL;
}

void rootfs_set_recorder(struct rootfs *fs, rootfs_recorder recorder,
                         void *context)
{
    fs->recorder = recorder;
    fs->recorder_context = context;
}

static enum rootfs_status apply_change(struct rootfs_layer *layer,
                                       const struct rootfs_change *change,
                                       int *resolved, char *errbuf,
                                       size_t errbuf_size)
{
    const char *path = change->path;

    *resolved = 1;
    switch (change->kind) {
    case ROOTFS_CHANGE_FILE:
        return rootfs_layer_put_file(layer, path, change->data, change->size,
                                     errbuf, errbuf_size);
    case ROOTFS_CHANGE_SYMLINK:
        return rootfs_layer_put_symlink(layer, path, change->target, errbuf,
                                        errbuf_size);
    case ROOTFS_CHANGE_DIRECTORY:
        return rootfs_layer_put_directory(layer, path, errbuf, errbuf_size);
    case ROOTFS_CHANGE_OTHER:
        return rootfs_layer_put_other(layer, path, errbuf, errbuf_size);
    case ROOTFS_CHANGE_HARDLINK:
        return rootfs_layer_put_hardlink(layer, path, change->target, resolved,
                                         errbuf, errbuf_size);
    case ROOTFS_CHANGE_WHITEOUT:
        return rootfs_layer_whiteout(layer, path, errbuf, errbuf_size);
    case ROOTFS_CHANGE_OPAQUE:
        return rootfs_layer_opaque(layer, path, errbuf, errbuf_size);
    }
    /* Not reached: the cases above cover the enum. */
    snprintf(errbuf, errbuf_size, "unknown change kind %d at %s",
             (int)change->kind, path);
    return ROOTFS_NO_MEMORY;
}

enum rootfs_status rootfs_layer_apply(struct rootfs_layer *layer,
                                      const struct rootfs_change *change,
                                      int *resolved, char *errbuf,
                                      size_t errbuf_size)
{
    struct rootfs *fs = layer->fs;
    int unused;

    enum rootfs_status status = apply_change(
        layer, change, resolved ? resolved : &unused, errbuf, errbuf_size);
    if (status == ROOTFS_OK && fs->recorder)
        fs->recorder(fs->recorder_context, change);
    return status;
}
