// A kernel timeline for the GPU machine, which has no Nsight Systems: a CUDA injection library
// that records every kernel and memory copy through CUPTI's activity API (GPU start and end
// times, kernels inside replayed CUDA graphs included) and writes them as CSV when the program
// exits. tools/device/kernel_trace/summarize.py turns the CSV into per-step figures.
//
//   Build here (CUPTI ships with the CUDA toolkit; the CMake build compiles it too, as a check):
//     tools/device/kernel_trace/build.sh    (writes build-trace/: the library and libcupti)
//   Run there (the driver loads the library at cuInit and calls InitializeInjection):
//     CUDA_INJECTION64_PATH=$PWD/build-trace/libkernel_trace.so LD_LIBRARY_PATH=$PWD/build-trace
//     KERNEL_TRACE_OUT=$OUT/trace.csv (both in the program's environment), then the program.
//
// KERNEL_TRACE_GRAPHS=1 records each replayed CUDA graph as one record instead of its kernels
// (CUPTI's graph-level tracing, much cheaper than a record per kernel node; kernels launched
// outside graphs are then not recorded), and the CUDA runtime calls with their host times.
//
// The trace is written when the program exits normally (atexit): a program killed by a signal
// (a `timeout`) leaves none.
//
// Columns: kind (kernel | graph | memcpy | api), name (kernel, runtime call) or copy direction,
// start_ns, end_ns (one clock for the GPU and host records), bytes (copies), graph_id, stream.
// Records arrive out of order; sort by start.
#include <cupti.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace {

constexpr size_t kBufferBytes = 8 << 20;

struct Row {
  const char* kind;
  std::string name;
  uint64_t start, end, bytes;
  uint32_t graph, stream;
};

std::mutex mu;
std::vector<Row>* rows = new std::vector<Row>();  // leaked on purpose: written from atexit

const char* CopyKind(uint8_t kind) {
  switch (kind) {
    case CUPTI_ACTIVITY_MEMCPY_KIND_HTOD:
      return "HtoD";
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOH:
      return "DtoH";
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOD:
      return "DtoD";
    default:
      return "other";
  }
}

void CUPTIAPI BufferRequested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(8, kBufferBytes));
  *size = *buffer != nullptr ? kBufferBytes : 0;  // CUPTI then drops records (reported above)
  *max_records = 0;
}

void CUPTIAPI BufferCompleted(CUcontext context, uint32_t stream, uint8_t* buffer, size_t, size_t valid) {
  CUpti_Activity* record = nullptr;
  std::lock_guard<std::mutex> lock(mu);
  size_t dropped = 0;
  if (cuptiActivityGetNumDroppedRecords(context, stream, &dropped) == CUPTI_SUCCESS && dropped > 0) {
    std::fprintf(stderr, "kernel_trace: CUPTI dropped %zu records: the trace has gaps\n", dropped);
  }
  while (cuptiActivityGetNextRecord(buffer, valid, &record) == CUPTI_SUCCESS) {
    if (record->kind == CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL || record->kind == CUPTI_ACTIVITY_KIND_KERNEL) {
      const auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(record);
      rows->push_back({"kernel", k->name ? k->name : "?", k->start, k->end, 0, k->graphId, k->streamId});
    } else if (record->kind == CUPTI_ACTIVITY_KIND_GRAPH_TRACE) {
      const auto* g = reinterpret_cast<const CUpti_ActivityGraphTrace2*>(record);
      rows->push_back({"graph", "graph", g->start, g->end, 0, g->graphId, g->streamId});
    } else if (record->kind == CUPTI_ACTIVITY_KIND_MEMCPY) {
      const auto* m = reinterpret_cast<const CUpti_ActivityMemcpy6*>(record);
      rows->push_back({"memcpy", CopyKind(m->copyKind), m->start, m->end, m->bytes, m->graphId, m->streamId});
    } else if (record->kind == CUPTI_ACTIVITY_KIND_RUNTIME) {
      const auto* a = reinterpret_cast<const CUpti_ActivityAPI*>(record);
      const char* name = nullptr;
      cuptiGetCallbackName(CUPTI_CB_DOMAIN_RUNTIME_API, a->cbid, &name);
      rows->push_back({"api", name ? name : "?", a->start, a->end, 0, 0, 0});
    }
  }
  std::free(buffer);
}

void Write() {
  cuptiActivityFlushAll(1);
  const char* path = std::getenv("KERNEL_TRACE_OUT");
  FILE* f = std::fopen(path ? path : "kernel-trace.csv", "w");
  if (f == nullptr) {
    std::perror("kernel_trace: cannot write the trace");
    return;
  }
  std::lock_guard<std::mutex> lock(mu);
  std::fprintf(f, "kind,name,start_ns,end_ns,bytes,graph_id,stream\n");
  for (const Row& r : *rows) {
    // Kernel names are demangled-free mangled C++ names: no commas or quotes to escape.
    std::fprintf(f, "%s,%s,%llu,%llu,%llu,%u,%u\n", r.kind, r.name.c_str(), static_cast<unsigned long long>(r.start),
                 static_cast<unsigned long long>(r.end), static_cast<unsigned long long>(r.bytes), r.graph, r.stream);
  }
  std::fclose(f);
  std::fprintf(stderr, "kernel_trace: %zu records written to %s\n", rows->size(), path ? path : "kernel-trace.csv");
}

bool Check(CUptiResult r, const char* what) {
  if (r == CUPTI_SUCCESS) return true;
  const char* text = nullptr;
  cuptiGetResultString(r, &text);
  std::fprintf(stderr, "kernel_trace: %s failed: %s\n", what, text ? text : "?");
  return false;
}

}  // namespace

extern "C" int InitializeInjection() {
  if (!Check(cuptiActivityRegisterCallbacks(BufferRequested, BufferCompleted), "registering buffers")) return 0;
  const char* graphs = std::getenv("KERNEL_TRACE_GRAPHS");
  if (graphs != nullptr && std::strcmp(graphs, "0") != 0 && std::strcmp(graphs, "1") != 0) {
    std::fprintf(stderr, "kernel_trace: KERNEL_TRACE_GRAPHS=%s: expected 0 or 1; recording kernels (0)\n", graphs);
  }
  if (graphs != nullptr && std::strcmp(graphs, "1") == 0) {
    if (!Check(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_GRAPH_TRACE), "enabling graph records")) return 0;
    if (!Check(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_RUNTIME), "enabling runtime call records")) return 0;
  } else if (!Check(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL), "enabling kernel records")) {
    return 0;
  }
  if (!Check(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_MEMCPY), "enabling copy records")) return 0;
  std::atexit(Write);
  return 1;
}
