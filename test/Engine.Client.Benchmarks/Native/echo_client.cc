// A native echo client for the benchmark harness: gRPC C++ (Debian's libgrpc++), the synchronous
// API, what a native engine would write. Two modes:
//   echo_client <target> throughput <batch bytes> <batches>
//     one Execute stream: Init, then one thread writes the batches and Finish while this one reads
//     the echoes up to the FinishResponse; half-close, end of stream.
//   echo_client <target> churn <batch bytes> <sessions>
//     sessions one after another: Init, one batch, Finish, the echo, FinishResponse, end of stream.
// A warm-up session runs first. Prints one line: "seconds=<s> bytes=<echoed bytes> units=<batches
// or sessions> cpu=<user + system seconds of this process>" (time and CPU measured around the
// measured part only, not the process start).
#include <chrono>
#include <sys/resource.h>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "org/apache/spark/udf/worker/udf_service.grpc.pb.h"

namespace w = org::apache::spark::udf::worker;

namespace {

[[noreturn]] void Fail(const std::string& what) {
  std::cerr << "echo_client: " << what << "\n";
  std::exit(1);
}

w::UdfRequest InitRequest() {
  w::UdfRequest request;
  auto* init = request.mutable_control()->mutable_init();
  init->set_protocol_version(1);
  init->set_data_format(w::UDFWorkerDataFormat(1));
  init->mutable_udf()->set_format("echo");
  init->mutable_udf()->set_payload("echo");
  return request;
}

// One session; returns the bytes echoed.
uint64_t Session(w::UdfWorker::Stub& stub, const w::UdfRequest& data, uint64_t count) {
  grpc::ClientContext context;
  auto stream = stub.Execute(&context);
  w::UdfResponse response;
  if (!stream->Write(InitRequest()) || !stream->Read(&response) || !response.control().has_init()) Fail("Init was not answered");
  w::UdfRequest finish;
  finish.mutable_control()->mutable_finish();
  std::thread writer;
  if (count == 1) {
    if (!stream->Write(data) || !stream->Write(finish)) Fail("write failed");
  } else {
    writer = std::thread([&] {
      for (uint64_t i = 0; i < count; i++) {
        if (!stream->Write(data)) Fail("write failed");
      }
      if (!stream->Write(finish)) Fail("write failed");
    });
  }
  uint64_t bytes = 0, batches = 0;
  bool finished = false;
  while (stream->Read(&response)) {
    if (response.has_data()) {
      bytes += response.data().data().size();
      batches++;
    } else if (response.control().has_finish()) {
      finished = true;
      break;
    } else {
      Fail("unexpected response");
    }
  }
  if (writer.joinable()) writer.join();
  if (!finished || batches != count) Fail("the stream ended early");
  stream->WritesDone();
  while (stream->Read(&response)) {
  }
  auto status = stream->Finish();
  if (!status.ok()) Fail("Execute failed: " + status.error_message());
  return bytes;
}

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: echo_client <target> throughput|churn <batch bytes> <count>\n";
    return 2;
  }
  const std::string target = argv[1], mode = argv[2];
  const uint64_t batch = std::strtoull(argv[3], nullptr, 10), count = std::strtoull(argv[4], nullptr, 10);
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(-1);
  arguments.SetMaxSendMessageSize(-1);
  auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), arguments);
  auto stub = w::UdfWorker::NewStub(channel);
  w::UdfRequest data;
  data.mutable_data()->set_data(std::string(batch, 'x'));

  Session(*stub, data, 1);  // warm-up: connect, first stream
  uint64_t bytes = 0;
  const double cpu_start = CpuSeconds();
  const auto start = std::chrono::steady_clock::now();
  if (mode == "throughput") {
    bytes = Session(*stub, data, count);
  } else if (mode == "churn") {
    for (uint64_t i = 0; i < count; i++) bytes += Session(*stub, data, 1);
  } else {
    Fail("unknown mode " + mode);
  }
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  const double cpu = CpuSeconds() - cpu_start;
  std::cout << "seconds=" << elapsed.count() << " bytes=" << bytes << " units=" << count << " cpu=" << cpu << std::endl;
  return 0;
}
