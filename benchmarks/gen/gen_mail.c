/* gen_mail.c — a synthetic mail graph with planted truth, as NDJSON observations on stdout.
 * Honest users live in communities (one organisation domain each; every fifth user on a
 * shared freemail provider), write mostly inside their community with heavy-tailed
 * activity, and reply to part of what they receive; about 1% are newsletter senders with
 * a large fan-out and no replies. Abuse starts late in the window:
 * spammers use fresh domains (some use freemail addresses) and send from "snowshoe" IPs
 * spread over a few /24 blocks to many honest recipients, who never reply; compromised
 * honest accounts send bursts through the same snowshoe IPs. Attack edges — honest users
 * writing to spammers (replies to phishing) — connect the regions; their number is set.
 * Deterministic for a seed. --truth FILE writes "type:identifier<TAB>bad|good" for every
 * address, IP, net and domain generated. */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  uint64_t messages, users, communities, spammers, spam_ips, compromised, attack_edges;
  double spam_freemail;
  double spam_share, reply_rate;
  uint64_t seed;
  int64_t start_ts;
  uint64_t span_s;
  const char *truth;
} opts_t;

static uint64_t rng_state;

/* splitmix64: small, fast, good enough for test data. */
static uint64_t rnd(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
static uint64_t below(uint64_t n) {
  return n ? rnd() % n : 0;
}
static double unit(void) {
  return (double)(rnd() >> 11) / 9007199254740992.0;
}

/* A heavy-tailed pick in [0, n): index ~ n * u^3 favours the first few. */
static uint64_t skewed(uint64_t n) {
  return (uint64_t)((double)n * pow(unit(), 3.0)) % n;
}

static void honest_address(const opts_t *o, uint64_t u, char *buf, size_t cap) {
  uint64_t c = u % o->communities;
  if (u % 5 == 0)
    snprintf(buf, cap, "user%" PRIu64 "@freemail%" PRIu64 ".example", u, u % 3);
  else
    snprintf(buf, cap, "user%" PRIu64 "@org%" PRIu64 ".example", u, c);
}

static void community_ip(uint64_t c, char *buf, size_t cap) {
  snprintf(buf, cap, "10.%" PRIu64 ".%" PRIu64 ".25", 1 + c / 250, c % 250);
}

static void honest_ip(const opts_t *o, uint64_t u, char *buf, size_t cap) {
  if (u % 5 == 0) /* freemail: the provider rotates over its 4 outbound MTAs */
    snprintf(buf, cap, "10.200.%" PRIu64 ".%" PRIu64, u % 3, 10 + below(4));
  else
    community_ip(u % o->communities, buf, cap);
}

static void honest_helo(const opts_t *o, uint64_t u, char *buf, size_t cap) {
  if (u % 5 == 0)
    snprintf(buf, cap, "mx%" PRIu64 ".freemail%" PRIu64 ".example", u % 4, u % 3);
  else
    snprintf(buf, cap, "mail.org%" PRIu64 ".example", u % o->communities);
}

static double spam_freemail_share;

/* Spammer s: most on fresh domains, a share on the freemail providers honest users use. */
static void spam_address(uint64_t s, char *buf, size_t cap) {
  if ((double)(s % 100) < spam_freemail_share * 100)
    snprintf(buf, cap, "promo%" PRIu64 "@freemail%" PRIu64 ".example", s, s % 3);
  else
    snprintf(buf, cap, "promo%" PRIu64 "@deals%" PRIu64 ".example", s, s % 7);
}

/* Compromised account c: an honest user, spread over the population. */
static uint64_t compromised_user(const opts_t *o, uint64_t c) {
  return (c * 7919 + 13) % o->users;
}

static bool is_compromised(const opts_t *o, uint64_t u) {
  for (uint64_t c = 0; c < o->compromised; c++)
    if (compromised_user(o, c) == u) return true;
  return false;
}

static void spam_ip(uint64_t i, char *buf, size_t cap) {
  snprintf(buf, cap, "172.16.%" PRIu64 ".%" PRIu64, 100 + i % 4, 1 + (i / 4) % 250);
}

static void print_observation(int64_t ts, const char *sender, const char *ip, const char *helo,
                              char rcpts[][96], int n) {
  printf("{\"ts\":%" PRId64
         ",\"sender\":\"%s\",\"client_ip\":\"%s\",\"helo\":\"%s\",\"recipients\":[",
         ts, sender, ip, helo);
  for (int i = 0; i < n; i++) printf("%s\"%s\"", i ? "," : "", rcpts[i]);
  printf("]}\n");
}

static void write_truth(const opts_t *o) {
  FILE *f = fopen(o->truth, "w");
  if (!f) {
    perror(o->truth);
    exit(2);
  }
  char a[96];
  for (uint64_t u = 0; u < o->users; u++) {
    honest_address(o, u, a, sizeof a);
    fprintf(f, "address:%s\t%s\n", a, is_compromised(o, u) ? "bad" : "good");
  }
  for (uint64_t c = 0; c < o->communities; c++) {
    fprintf(f, "domain:org%" PRIu64 ".example\tgood\n", c);
    community_ip(c, a, sizeof a);
    fprintf(f, "ip:%s\tgood\n", a);
  }
  for (uint64_t p = 0; p < 3; p++) {
    fprintf(f, "domain:freemail%" PRIu64 ".example\tgood\n", p);
    for (uint64_t k = 0; k < 4; k++) fprintf(f, "ip:10.200.%" PRIu64 ".%" PRIu64 "\tgood\n", p, 10 + k);
  }
  for (uint64_t n = 0; n < 4; n++) fprintf(f, "net:172.16.%" PRIu64 ".0/24\tbad\n", 100 + n);
  fprintf(f, "net:10.200.0.0/24\tgood\nnet:10.200.1.0/24\tgood\nnet:10.200.2.0/24\tgood\n");
  for (uint64_t s = 0; s < o->spammers; s++) {
    spam_address(s, a, sizeof a);
    fprintf(f, "address:%s\tbad\n", a);
  }
  for (uint64_t d = 0; d < 7 && d < o->spammers; d++)
    fprintf(f, "domain:deals%" PRIu64 ".example\tbad\n", d);
  for (uint64_t i = 0; i < o->spam_ips; i++) {
    spam_ip(i, a, sizeof a);
    fprintf(f, "ip:%s\tbad\n", a);
  }
  fclose(f);
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: gen_mail [--messages N] [--users N] [--communities N] [--spammers N]\n"
          "                [--spam-ips N] [--spam-share F] [--spam-freemail F]\n"
          "                [--compromised N] [--attack-edges N] [--reply-rate F] [--seed N]\n"
          "                [--start-ts EPOCH] [--span-days N] [--truth FILE]\n"
          "Writes NDJSON observations for `repgraph ingest`. Defaults: 10000 messages, 2000\n"
          "users in 40 communities, 20 spammers (10%% on freemail) on 64 IPs, 20%% spam, 5\n"
          "compromised accounts, 20 attack edges, 30%% replies, seed 1; messages spread over\n"
          "the 7 days before --start-ts (default: 1700000000), abuse in the last 3 days.\n");
}

int main(int argc, char **argv) {
  opts_t o = {.messages = 10000, .users = 2000, .communities = 40, .spammers = 20,
              .spam_ips = 64, .compromised = 5, .attack_edges = 20, .spam_freemail = 0.1,
              .spam_share = 0.2, .reply_rate = 0.3, .seed = 1, .start_ts = 1700000000,
              .span_s = 7 * 86400};
  static const struct option longopts[] = {{"messages", 1, NULL, 'm'},
                                           {"users", 1, NULL, 'u'},
                                           {"communities", 1, NULL, 'c'},
                                           {"spammers", 1, NULL, 's'},
                                           {"spam-ips", 1, NULL, 'i'},
                                           {"spam-share", 1, NULL, 'S'},
                                           {"reply-rate", 1, NULL, 'r'},
                                           {"seed", 1, NULL, 'x'},
                                           {"start-ts", 1, NULL, 't'},
                                           {"span-days", 1, NULL, 'd'},
                                           {"compromised", 1, NULL, 'C'},
                                           {"attack-edges", 1, NULL, 'A'},
                                           {"spam-freemail", 1, NULL, 'F'},
                                           {"truth", 1, NULL, 'T'},
                                           {"help", 0, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
  int opt;
  while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (opt) {
      case 'm': o.messages = strtoull(optarg, NULL, 10); break;
      case 'u': o.users = strtoull(optarg, NULL, 10); break;
      case 'c': o.communities = strtoull(optarg, NULL, 10); break;
      case 's': o.spammers = strtoull(optarg, NULL, 10); break;
      case 'i': o.spam_ips = strtoull(optarg, NULL, 10); break;
      case 'S': o.spam_share = strtod(optarg, NULL); break;
      case 'r': o.reply_rate = strtod(optarg, NULL); break;
      case 'x': o.seed = strtoull(optarg, NULL, 10); break;
      case 't': o.start_ts = strtoll(optarg, NULL, 10); break;
      case 'd': o.span_s = strtoull(optarg, NULL, 10) * 86400; break;
      case 'T': o.truth = optarg; break;
      case 'C': o.compromised = strtoull(optarg, NULL, 10); break;
      case 'A': o.attack_edges = strtoull(optarg, NULL, 10); break;
      case 'F': o.spam_freemail = strtod(optarg, NULL); break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (!o.users || !o.communities || !o.spammers || !o.spam_ips || o.communities > o.users) {
    usage(stderr);
    return 2;
  }
  rng_state = o.seed;
  spam_freemail_share = o.spam_freemail;
  if (o.truth) write_truth(&o);
  uint64_t attack_every = o.attack_edges ? o.messages / o.attack_edges : 0;
  char sender[96], ip[64], helo[96], rcpts[8][96];
  uint64_t per_comm = o.users / o.communities;
  for (uint64_t m = 0; m < o.messages; m++) {
    int64_t ts =
        o.start_ts - (int64_t)o.span_s + (int64_t)(o.span_s * m / (o.messages ? o.messages : 1));
    bool late = m >= o.messages * 4 / 7; /* abuse is fresh: the last 3 of 7 days */
    if (attack_every && m % attack_every == attack_every / 2) { /* an honest user writes to a spammer */
      uint64_t u = below(o.users);
      honest_address(&o, u, sender, sizeof sender);
      honest_ip(&o, u, ip, sizeof ip);
      honest_helo(&o, u, helo, sizeof helo);
      spam_address(below(o.spammers), rcpts[0], sizeof rcpts[0]);
      print_observation(ts, sender, ip, helo, rcpts, 1);
    }
    if (late && unit() < o.spam_share) {
      /* Throwaway accounts: each sends little, to few recipients at a time. */
      uint64_t n = 1 + below(4);
      uint64_t account = below(o.spammers);
      if (o.compromised && unit() < 0.15) {
        account = below(o.compromised);
        honest_address(&o, compromised_user(&o, account), sender, sizeof sender);
      } else {
        spam_address(account, sender, sizeof sender);
      }
      uint64_t s = below(7);
      spam_ip((account * 7 + below(2)) % o.spam_ips, ip, sizeof ip); /* 1-2 bots per account */
      snprintf(helo, sizeof helo, "host%" PRIu64 ".deals%" PRIu64 ".example", below(1000), s);
      for (uint64_t i = 0; i < n; i++)
        honest_address(&o, below(o.users), rcpts[i], sizeof rcpts[i]);
      print_observation(ts, sender, ip, helo, rcpts, (int)n);
      continue;
    }
    uint64_t u = skewed(o.users), c = u % o.communities, n = 1 + below(3) * (unit() < 0.2);
    if (u % 101 == 7) { /* a newsletter: many recipients anywhere, nobody writes back */
      honest_address(&o, u, sender, sizeof sender);
      honest_ip(&o, u, ip, sizeof ip);
      honest_helo(&o, u, helo, sizeof helo);
      n = 4 + below(5);
      for (uint64_t i = 0; i < n; i++) honest_address(&o, below(o.users), rcpts[i], sizeof rcpts[i]);
      print_observation(ts, sender, ip, helo, rcpts, (int)n);
      continue;
    }
    honest_address(&o, u, sender, sizeof sender);
    honest_ip(&o, u, ip, sizeof ip);
    honest_helo(&o, u, helo, sizeof helo);
    uint64_t first_rcpt = 0;
    for (uint64_t i = 0; i < n; i++) {
      uint64_t r = unit() < 0.85 ? c + o.communities * below(per_comm) : below(o.users);
      if (i == 0) first_rcpt = r;
      honest_address(&o, r, rcpts[i], sizeof rcpts[i]);
    }
    print_observation(ts, sender, ip, helo, rcpts, (int)n);
    if (unit() < o.reply_rate && first_rcpt != u) { /* the recipient writes back */
      char back[1][96];
      snprintf(back[0], sizeof back[0], "%s", sender);
      honest_address(&o, first_rcpt, sender, sizeof sender);
      honest_ip(&o, first_rcpt, ip, sizeof ip);
      honest_helo(&o, first_rcpt, helo, sizeof helo);
      print_observation(ts + 60, sender, ip, helo, back, 1);
    }
  }
  return 0;
}
