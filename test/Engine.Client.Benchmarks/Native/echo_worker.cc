// A neutral native echo worker for the benchmark harness: gRPC C++ (Debian's libgrpc++), the
// synchronous API, no UDF. It accepts the launcher's arguments (--id <id> --connection <socket path
// or TCP port>), answers Manage heartbeats, and on Execute answers Init, sends every DataRequest's
// bytes straight back (moved, not copied) and answers Finish with the counts it saw.
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "org/apache/spark/udf/worker/udf_service.grpc.pb.h"

namespace w = org::apache::spark::udf::worker;

namespace {

class EchoWorker final : public w::UdfWorker::Service {
 public:
  grpc::Status Execute(grpc::ServerContext*, grpc::ServerReaderWriter<w::UdfResponse, w::UdfRequest>* stream) override {
    w::UdfRequest request;
    w::UdfResponse response;
    uint64_t batches = 0, bytes = 0;
    while (stream->Read(&request)) {
      response.Clear();
      if (request.has_data()) {
        batches++;
        bytes += request.data().data().size();
        response.mutable_data()->mutable_data()->swap(*request.mutable_data()->mutable_data());
        if (!stream->Write(response)) return grpc::Status::OK;
        continue;
      }
      const auto& control = request.control();
      if (control.has_init()) {
        response.mutable_control()->mutable_init();
      } else if (control.has_finish()) {
        auto* metrics = response.mutable_control()->mutable_finish()->mutable_metrics();
        metrics->set_batches_in(batches);
        metrics->set_batches_out(batches);
        metrics->set_bytes_in(bytes);
        metrics->set_bytes_out(bytes);
      } else if (control.has_cancel()) {
        response.mutable_control()->mutable_cancel();
      } else {
        continue;  // payload chunks: the echo needs no UDF
      }
      if (!stream->Write(response)) return grpc::Status::OK;
    }
    return grpc::Status::OK;
  }

  grpc::Status Manage(grpc::ServerContext*, const w::WorkerRequest* request, w::WorkerResponse* response) override {
    if (request->has_shutdown()) {
      response->mutable_shutdown()->set_sessions_settled(true);
      std::thread([] {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        std::_Exit(0);
      }).detach();
    } else {
      (*response->mutable_heartbeat()->mutable_metrics())["worker"] = "native-echo";
    }
    return grpc::Status::OK;
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string connection;
  for (int i = 1; i + 1 < argc; i++) {
    if (std::string(argv[i]) == "--connection") connection = argv[i + 1];
  }
  if (connection.empty()) {
    std::cerr << "usage: echo_worker --id <id> --connection <socket path | port>\n";
    return 2;
  }
  const bool tcp = connection.find_first_not_of("0123456789") == std::string::npos;
  const std::string address = tcp ? "127.0.0.1:" + connection : "unix:" + connection;

  EchoWorker service;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(128 * 1024 * 1024);
  builder.SetMaxSendMessageSize(128 * 1024 * 1024);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) {
    std::cerr << "echo_worker: cannot listen on " << address << "\n";
    return 1;
  }
  std::signal(SIGTERM, [](int) { std::_Exit(0); });
  server->Wait();
  return 0;
}
