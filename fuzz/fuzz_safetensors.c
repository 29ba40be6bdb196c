/* fuzz_safetensors.c: the model and checkpoint readers on arbitrary bytes.
 *
 * A file must either load, as a model whose table is consistent and which saves and loads back
 * bit for bit and runs a forward pass, or be refused with one line that names the file. The same
 * bytes go to the checkpoint reader: a checkpoint that loads holds optimizer state of the size
 * its optimizer needs, and saves and loads back bit for bit. */
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char saved[4096]; /* where loaded models are saved again */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char dir[4000];
    snprintf(dir, sizeof dir, "%s/mnist-fuzz-XXXXXX", tmp);
    if (!mkdtemp(dir)) {
        perror(dir);
        abort();
    }
    snprintf(saved, sizeof saved, "%s/model.safetensors", dir);
    return 0;
}

static void check_model(const mnist_model *m) {
    if (m->nlayers < 1 || m->nlayers > MNIST_MAX_LAYERS || m->ntensors != 2 * m->nlayers || !m->params) abort();
    size_t total = 0;
    for (int i = 0; i < m->ntensors; i++) {
        const mnist_tensor *t = &m->tensors[i];
        if (t->offset != total) abort();
        total += t->count;
    }
    if (total != m->nparams) abort();
    touch(m->params, m->nparams * sizeof(float));
}

static void checkpoint(const char *path) {
    mnist_model m, back;
    mnist_train_opts o, o2;
    mnist_run_state st, st2;
    mnist_err err = {{0}};
    if (mnist_checkpoint_load(path, &m, &o, &st, &err) != 0) {
        check_refusal(&err, path);
        return;
    }
    check_model(&m);
    if (st.nstate != (size_t)mnist_optimizer_slots(o.optimizer) * m.nparams || (st.nstate && !st.state)) abort();
    touch(st.state, st.nstate * sizeof(float));
    if (mnist_checkpoint_save(saved, &m, &o, &st, &err) != 0) {
        fprintf(stderr, "a loaded checkpoint does not save: %s\n", err.msg);
        abort();
    }
    if (mnist_checkpoint_load(saved, &back, &o2, &st2, &err) != 0) {
        fprintf(stderr, "a saved checkpoint does not load: %s\n", err.msg);
        abort();
    }
    if (back.nparams != m.nparams || memcmp(back.params, m.params, m.nparams * sizeof(float)) != 0 ||
        st2.nstate != st.nstate || (st.nstate && memcmp(st2.state, st.state, st.nstate * sizeof(float)) != 0) ||
        st2.epoch != st.epoch || st2.step != st.step || st2.examples != st.examples ||
        strcmp(st2.data_sha256, st.data_sha256) != 0 || st2.steps_done != st.steps_done ||
        memcmp(st2.order.key, st.order.key, sizeof st.order.key) != 0 || o2.optimizer != o.optimizer ||
        o2.batch != o.batch || o2.seed != o.seed)
        abort();
    mnist_model_free(&back);
    mnist_run_state_free(&st2);
    mnist_model_free(&m);
    mnist_run_state_free(&st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mem_file f;
    mem_file_open(&f, data, size);
    mnist_model m, back;
    mnist_err err = {{0}};
    if (mnist_model_load(&m, f.path, &err) == 0) {
        check_model(&m);
        if (mnist_model_save(&m, saved, &err) != 0) {
            fprintf(stderr, "a loaded model does not save: %s\n", err.msg);
            abort();
        }
        if (mnist_model_load(&back, saved, &err) != 0) {
            fprintf(stderr, "a saved model does not load: %s\n", err.msg);
            abort();
        }
        if (back.nparams != m.nparams || memcmp(back.params, m.params, m.nparams * sizeof(float)) != 0 ||
            memcmp(back.sizes, m.sizes, sizeof m.sizes) != 0 || strcmp(back.dataset, m.dataset) != 0)
            abort();
        mnist_model_free(&back);
        float *x = calloc((size_t)m.sizes[0], sizeof(float)), *p = malloc((size_t)m.sizes[m.nlayers] * sizeof(float));
        if (!x || !p) abort();
        if (mnist_predict(&m, x, 1, p, &err) != 0) {
            fprintf(stderr, "a loaded model does not predict: %s\n", err.msg);
            abort();
        }
        touch(p, (size_t)m.sizes[m.nlayers] * sizeof(float));
        free(x);
        free(p);
        mnist_model_free(&m);
    } else {
        check_refusal(&err, f.path);
    }
    checkpoint(f.path);
    mem_file_close(&f);
    return 0;
}
