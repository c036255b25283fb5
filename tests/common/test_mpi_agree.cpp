#include <gtest/gtest.h>
#include <unistd.h>

#include <climits>
#include <string>

#include "common/mpi_test_util.h"
#include "mpi/mpi_util.h"

namespace shardscore {
namespace {
using namespace shardscore::testing;

TEST(MpiAgree, AllOkStaysOk) { EXPECT_TRUE(mpi_agree(ok_status(), MPI_COMM_WORLD).ok()); }

TEST(MpiAgree, EveryRankGetsTheLowestFailingRanksError) {
  const int rank = world_rank(), size = world_size();
  // The last rank fails (rank 0 at one rank): everyone must see its code and message.
  Status mine = rank == size - 1 ? not_found("missing on rank " + std::to_string(rank)) : ok_status();
  Status agreed = mpi_agree(mine, MPI_COMM_WORLD);
  EXPECT_EQ(agreed.code(), StatusCode::kNotFound);
  EXPECT_EQ(agreed.message(), "missing on rank " + std::to_string(size - 1));

  // Several fail: the lowest failing rank wins, on every rank.
  Status many = rank >= size / 2 ? data_loss("rank " + std::to_string(rank)) : ok_status();
  Status agreed_many = mpi_agree(many, MPI_COMM_WORLD);
  EXPECT_EQ(agreed_many.message(), "rank " + std::to_string(size / 2));
}

TEST(MpiGatherStrings, EveryRanksStringInRankOrderOnTheRoot) {
  const int rank = world_rank(), size = world_size();
  const std::string mine = rank == 1 ? "" : std::string(static_cast<std::size_t>(rank) * 1000 + 3, static_cast<char>('a' + rank));
  for (int root : {0, size - 1}) {
    auto got = mpi_gather_strings(mine, root, MPI_COMM_WORLD);
    ASSERT_TRUE(got.ok()) << got.status().message();
    if (rank != root) {
      EXPECT_TRUE(got->empty());
      continue;
    }
    ASSERT_EQ(got->size(), static_cast<std::size_t>(size));
    for (int r = 0; r < size; ++r) {
      const std::string want = r == 1 ? "" : std::string(static_cast<std::size_t>(r) * 1000 + 3, static_cast<char>('a' + r));
      EXPECT_EQ((*got)[static_cast<std::size_t>(r)], want) << "rank " << r;
    }
  }
}

TEST(MpiAgree, BroadcastsStrings) {
  std::string s = world_rank() == 0 ? std::string(100000, 'x') + "end" : "other";
  EXPECT_EQ(mpi_bcast_string(s, 0, MPI_COMM_WORLD), std::string(100000, 'x') + "end");
  EXPECT_EQ(mpi_bcast_string(world_rank() == 0 ? "" : "nonempty", 0, MPI_COMM_WORLD), "");
}

// Some ranks fail: the lowest failing one's rank and host lead its message; all fail: the message
// alone (what every rank hits is not about a node).
TEST(MpiAgreeWhere, NamesTheFailingRankOnlyWhenOthersDidNotFail) {
  const int rank = world_rank(), size = world_size();
  char host[HOST_NAME_MAX + 1] = {};
  ASSERT_EQ(gethostname(host, sizeof host), 0);
  const Status some = mpi_agree_where(rank == size - 1 ? not_found("no model here") : ok_status(), MPI_COMM_WORLD);
  EXPECT_EQ(some.code(), StatusCode::kNotFound);
  EXPECT_EQ(some.message(), size == 1 ? std::string("no model here")
                                      : "rank " + std::to_string(size - 1) + " on " + host + ": no model here");
  const Status all = mpi_agree_where(unavailable("no CUDA device is visible"), MPI_COMM_WORLD);
  EXPECT_EQ(all.code(), StatusCode::kUnavailable);
  EXPECT_EQ(all.message(), "no CUDA device is visible");
  EXPECT_TRUE(mpi_agree_where(ok_status(), MPI_COMM_WORLD).ok());
}

TEST(MpiAgreeSame, NamesTheLowestRankThatSeesOtherwiseAndWhat) {
  const int rank = world_rank(), size = world_size();
  char host[HOST_NAME_MAX + 1] = {};
  ASSERT_EQ(gethostname(host, sizeof host), 0);
  const std::string job = "[input]\npath = \"in.h5\"\n[run]\nbatch_size = 64\n";
  EXPECT_TRUE(mpi_agree_same({{"job file", job}, {"input 'X'", "/features: 1000 rows"}}, MPI_COMM_WORLD).ok());
  EXPECT_TRUE(mpi_agree_same({}, MPI_COMM_WORLD).ok());
  if (size < 2) return;
  // Ranks 1.. see another input (a stale node-local copy); the last rank's job file differs too,
  // but rank 1 is the lowest that differs and its first differing fact is the input.
  const bool last = rank == size - 1;
  Status st = mpi_agree_same({{"job file", last ? job + "[checks]\n" : job},
                              {"input 'X'", rank == 0 ? "/features: 1000 rows" : "/features: 1200 rows"}},
                             MPI_COMM_WORLD);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(),
            "the ranks do not see the same job: rank 1 on " + std::string(host) +
                " has another input 'X' than rank 0: '/features: 1200 rows' where rank 0 has '/features: 1000 rows' (a "
                "node-local copy that differs from the others', or ranks started with different job files?)");
  // Different numbers of facts (another job file binds another input): no collective mismatch, the
  // missing fact is '(nothing)'.
  std::vector<std::pair<std::string, std::string>> facts = {{"job file", job}};
  if (rank == 0) facts.emplace_back("input 'mask'", "/mask: 1000 rows");
  st = mpi_agree_same(facts, MPI_COMM_WORLD);
  EXPECT_NE(st.message().find("rank 1 on " + std::string(host) + " has another input 'mask' than rank 0: '(nothing)' where "
                              "rank 0 has '/mask: 1000 rows'"),
            std::string::npos)
      << st.message();
  facts.resize(1);
  if (rank == size - 1) facts.emplace_back("input 'extra'", "/extra: 1000 rows");
  st = mpi_agree_same(facts, MPI_COMM_WORLD);
  EXPECT_NE(st.message().find("rank " + std::to_string(size - 1) + " on " + std::string(host) +
                              " has another input 'extra' than rank 0: '/extra: 1000 rows' where rank 0 has '(nothing)'"),
            std::string::npos)
      << st.message();
  // A long value is shown by its first differing line.
  st = mpi_agree_same({{"job file", rank == 0 ? job : "[input]\npath = \"in.h5\"\n[run]\nbatch_size = 32\n"}}, MPI_COMM_WORLD);
  EXPECT_NE(st.message().find("has another job file than rank 0: line 4 'batch_size = 32' where rank 0 has 'batch_size = 64'"),
            std::string::npos)
      << st.message();
  // Lines that one text has and the other has not (an override appended after a blank line): the
  // first that says something, not the blank one before it.
  st = mpi_agree_same({{"job file", rank == 0 ? job + "\n\nthreads = 1\n" : job}}, MPI_COMM_WORLD);
  EXPECT_NE(st.message().find("has another job file than rank 0: line 7 '(no such line)' where rank 0 has 'threads = 1'"),
            std::string::npos)
      << st.message();
  st = mpi_agree_same({{"job file", rank == 0 ? job : job + "[checks]\n\nmax_missing_fraction = 0.5\n"}}, MPI_COMM_WORLD);
  EXPECT_NE(st.message().find("line 5 '[checks]' where rank 0 has '(no such line)'"), std::string::npos) << st.message();
  // Each side's first line that says something, by its own number.
  st = mpi_agree_same({{"job file", rank == 0 ? "[run]\nbatch = 1\nthreads = 2\n" : "[run]\nbatch = 1\n\n[x]\nk = 1\n"}},
                      MPI_COMM_WORLD);
  EXPECT_NE(st.message().find("line 4 '[x]' where rank 0 has line 3 'threads = 2'"), std::string::npos) << st.message();
}

TEST(MpiRankPlace, NamesTheRankAndItsHost) {
  char host[HOST_NAME_MAX + 1] = {};
  ASSERT_EQ(gethostname(host, sizeof host), 0);
  EXPECT_EQ(mpi_rank_place(MPI_COMM_WORLD), "rank " + std::to_string(world_rank()) + " on " + host);
}

}  // namespace
}  // namespace shardscore
