// hobbit: the command-line client of hobbitd. See `hobbit --help`.
#include <iostream>
#include <string>

#include "clients/cpp/cli_options.h"
#include "clients/cpp/hobbit_cli.h"

int main(int argc, char** argv) {
  absl::StatusOr<hobbit::cli::CliOptions> options = hobbit::cli::ParseCliOptions(argc, argv);
  if (!options.ok()) {
    std::cerr << "hobbit: " << options.status().message() << "\n";
    return 2;
  }
  if (options->help) {
    std::cout << hobbit::cli::CliUsage();
    return 0;
  }
  return hobbit::cli::HobbitCli(*options, std::cin, std::cout, std::cerr).Run();
}
