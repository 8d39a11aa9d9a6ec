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
 * address, IP, net and domain generated.
 * --hard adds the cases that make real abuse hard: legitimate bulk senders with
 * a stable audience on their own infrastructure, spammer accounts on the freemail providers
 * sending through the providers' MTAs, and compromised organisation accounts that send a
 * burst of spam from their usual server; aged spammer accounts that first mail single people
 * early, users who join during the window, and bulk senders that start late, so that age alone
 * does not separate them. --actors, --message-truth and --labels write, for
 * either mode, every actor in the traffic with its truth and case, every message's truth and
 * case, and seed labels (a share of each type and verdict, optionally with wrong reports). */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_truth.h"

typedef struct {
  uint64_t messages, users, communities, spammers, spam_ips, compromised, attack_edges;
  double spam_freemail;
  double spam_share, reply_rate;
  uint64_t seed;
  int64_t start_ts;
  uint64_t span_s;
  const char *truth;
  /* --hard and the truth files */
  bool hard;
  uint64_t bulk_senders, burst_s, label_seed;
  double bulk_share, label_share, label_noise, newcomers, aged;
  const char *actors, *message_truth, *labels;
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

/* A fixed hash of two numbers (the same for every run), for stable per-actor choices. */
static uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t z = a * 0x9e3779b97f4a7c15ULL + b + 0x632be59bd9b4e019ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
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

/* Compromised account c: an honest user, spread over the population (--hard: an
 * organisation's user, so that its organisation's domain and server are in play). */
static bool hard_mode;
static uint64_t compromised_user(const opts_t *o, uint64_t c) {
  uint64_t u = (c * 7919 + 13) % o->users;
  if (hard_mode && u % 5 == 0) u = u + 1 < o->users ? u + 1 : u - 1;
  return u;
}

static bool is_compromised(const opts_t *o, uint64_t u) {
  for (uint64_t c = 0; c < o->compromised; c++)
    if (compromised_user(o, c) == u) return true;
  return false;
}

static void spam_ip(uint64_t i, char *buf, size_t cap) {
  snprintf(buf, cap, "172.16.%" PRIu64 ".%" PRIu64, 100 + i % 4, 1 + (i / 4) % 250);
}

/* ---- truth of every name the generator writes ------------------------------------------- */

static gt_t *registry;      /* NULL unless a truth file beyond --truth is asked for */
static FILE *message_truth; /* --message-truth */
static uint64_t lines_out;  /* observations written: the id of the next message */
static bool *user_compromised, *org_compromised; /* by user, by community */

typedef struct {
  bool bad;
  const char *kase;
} truth_t;

static truth_t user_truth(const opts_t *o, uint64_t u) {
  if (u >= o->users) return (truth_t){false, "honest"};
  if (user_compromised[u]) return (truth_t){true, "compromised"};
  if (!o->hard && u % 101 == 7) return (truth_t){false, "bulk"}; /* the planted newsletters */
  if (u % 5 == 0) return (truth_t){false, "freemail_user"};
  if (org_compromised[u % o->communities]) return (truth_t){false, "colleague"};
  return (truth_t){false, "honest"};
}

static truth_t org_truth(const opts_t *o, uint64_t c) {
  bool hit = c < o->communities && org_compromised[c];
  return (truth_t){false, hit ? "compromised_org" : "org"};
}

static truth_t address_truth(const opts_t *o, const char *a) {
  uint64_t n;
  if (sscanf(a, "user%" SCNu64 "@", &n) == 1) return user_truth(o, n);
  if (strstr(a, "@bulk")) return (truth_t){false, "bulk"};
  if (strstr(a, "@freemail")) return (truth_t){true, "freemail_spammer"};
  return (truth_t){true, "spammer"};
}

/* Sender domains and HELO names: org<c>, mail.org<c>, freemail<p>, mx<k>.freemail<p>,
 * deals<d>, host<n>.deals<d>, bulk<b>, mta.bulk<b>. */
static truth_t domain_truth(const opts_t *o, const char *d) {
  uint64_t c;
  if (sscanf(d, "org%" SCNu64 ".", &c) == 1 || sscanf(d, "mail.org%" SCNu64 ".", &c) == 1)
    return org_truth(o, c);
  if (strstr(d, "freemail")) return (truth_t){false, "freemail"};
  if (strstr(d, "bulk")) return (truth_t){false, "bulk"};
  return (truth_t){true, "spam_domain"};
}

/* IPs and their /24s: 10.200.p.* freemail MTAs, 10.100+.*.* bulk senders' own, other 10.*
 * organisations' servers, 172.16.* snowshoe bots. */
static truth_t ip_truth(const opts_t *o, const char *ip) {
  unsigned a, b, c;
  if (sscanf(ip, "%u.%u.%u.", &a, &b, &c) != 3 || a != 10) return (truth_t){true, "snowshoe"};
  if (b == 200) return (truth_t){false, "freemail"};
  if (b >= 100) return (truth_t){false, "bulk"};
  return org_truth(o, (uint64_t)(b - 1) * 250 + c);
}

static void note(const char *type, const char *id, truth_t t, bool sender) {
  char name[160];
  snprintf(name, sizeof name, "%s:%s", type, id);
  gt_note(registry, name, t.bad, t.kase, sender);
}

/* Records every actor of one observation, and the message's truth: its case is its sender's. */
static void note_observation(const opts_t *o, bool spam, const char *sender, const char *ip,
                             const char *helo, char rcpts[][96], int n) {
  truth_t st = address_truth(o, sender);
  if (message_truth)
    fprintf(message_truth, "%" PRIu64 "\t%s\t%s\n", lines_out, spam ? "spam" : "ham", st.kase);
  if (!registry) return;
  char net[64];
  unsigned a, b, c;
  note("address", sender, st, true);
  note("ip", ip, ip_truth(o, ip), false);
  if (sscanf(ip, "%u.%u.%u.", &a, &b, &c) == 3) {
    snprintf(net, sizeof net, "%u.%u.%u.0/24", a, b, c);
    note("net", net, ip_truth(o, ip), false);
  }
  const char *at = strchr(sender, '@');
  if (at) note("domain", at + 1, domain_truth(o, at + 1), false);
  note("domain", helo, domain_truth(o, helo), false);
  for (int i = 0; i < n; i++) note("address", rcpts[i], address_truth(o, rcpts[i]), false);
}

static void print_observation(const opts_t *o, bool spam, int64_t ts, const char *sender,
                              const char *ip, const char *helo, char rcpts[][96], int n) {
  if (registry || message_truth) note_observation(o, spam, sender, ip, helo, rcpts, n);
  lines_out++;
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
    for (uint64_t k = 0; k < 4; k++)
      fprintf(f, "ip:10.200.%" PRIu64 ".%" PRIu64 "\tgood\n", p, 10 + k);
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

/* The planted benchmark: the traffic of the original generator, byte for byte. */
static void gen_planted(const opts_t *o) {
  uint64_t attack_every = o->attack_edges ? o->messages / o->attack_edges : 0;
  char sender[96], ip[64], helo[96], rcpts[8][96];
  uint64_t per_comm = o->users / o->communities;
  for (uint64_t m = 0; m < o->messages; m++) {
    int64_t ts = o->start_ts - (int64_t)o->span_s +
                 (int64_t)(o->span_s * m / (o->messages ? o->messages : 1));
    bool late = m >= o->messages * 4 / 7; /* abuse is fresh: the last 3 of 7 days */
    if (attack_every &&
        m % attack_every == attack_every / 2) { /* an honest user writes to a spammer */
      uint64_t u = below(o->users);
      honest_address(o, u, sender, sizeof sender);
      honest_ip(o, u, ip, sizeof ip);
      honest_helo(o, u, helo, sizeof helo);
      spam_address(below(o->spammers), rcpts[0], sizeof rcpts[0]);
      print_observation(o, false, ts, sender, ip, helo, rcpts, 1);
    }
    if (late && unit() < o->spam_share) {
      /* Throwaway accounts: each sends little, to few recipients at a time. */
      uint64_t n = 1 + below(4);
      uint64_t account = below(o->spammers);
      if (o->compromised && unit() < 0.15) {
        account = below(o->compromised);
        honest_address(o, compromised_user(o, account), sender, sizeof sender);
      } else {
        spam_address(account, sender, sizeof sender);
      }
      uint64_t s = below(7);
      spam_ip((account * 7 + below(2)) % o->spam_ips, ip, sizeof ip); /* 1-2 bots per account */
      snprintf(helo, sizeof helo, "host%" PRIu64 ".deals%" PRIu64 ".example", below(1000), s);
      for (uint64_t i = 0; i < n; i++)
        honest_address(o, below(o->users), rcpts[i], sizeof rcpts[i]);
      print_observation(o, true, ts, sender, ip, helo, rcpts, (int)n);
      continue;
    }
    uint64_t u = skewed(o->users), c = u % o->communities, n = 1 + below(3) * (unit() < 0.2);
    if (u % 101 == 7) { /* a newsletter: many recipients anywhere, nobody writes back */
      honest_address(o, u, sender, sizeof sender);
      honest_ip(o, u, ip, sizeof ip);
      honest_helo(o, u, helo, sizeof helo);
      n = 4 + below(5);
      for (uint64_t i = 0; i < n; i++)
        honest_address(o, below(o->users), rcpts[i], sizeof rcpts[i]);
      print_observation(o, false, ts, sender, ip, helo, rcpts, (int)n);
      continue;
    }
    honest_address(o, u, sender, sizeof sender);
    honest_ip(o, u, ip, sizeof ip);
    honest_helo(o, u, helo, sizeof helo);
    uint64_t first_rcpt = 0;
    for (uint64_t i = 0; i < n; i++) {
      uint64_t r = unit() < 0.85 ? c + o->communities * below(per_comm) : below(o->users);
      if (i == 0) first_rcpt = r;
      honest_address(o, r, rcpts[i], sizeof rcpts[i]);
    }
    print_observation(o, false, ts, sender, ip, helo, rcpts, (int)n);
    if (unit() < o->reply_rate && first_rcpt != u) { /* the recipient writes back */
      char back[1][96];
      snprintf(back[0], sizeof back[0], "%s", sender);
      honest_address(o, first_rcpt, sender, sizeof sender);
      honest_ip(o, first_rcpt, ip, sizeof ip);
      honest_helo(o, first_rcpt, helo, sizeof helo);
      print_observation(o, false, ts + 60, sender, ip, helo, back, 1);
    }
  }
}

/* ---- --hard ------------------------------------------------------------------------------ */

/* Hard spammer s: on a freemail provider (spam_freemail share), with an ordinary-looking
 * account there; otherwise on a fresh domain, as in the planted benchmark. */
static bool hard_on_freemail(uint64_t s) {
  return (double)(s % 100) < spam_freemail_share * 100;
}
static void hard_spam_address(uint64_t s, char *buf, size_t cap) {
  if (hard_on_freemail(s))
    snprintf(buf, cap, "acct%" PRIu64 "@freemail%" PRIu64 ".example", s, s % 3);
  else
    snprintf(buf, cap, "promo%" PRIu64 "@deals%" PRIu64 ".example", s, s % 7);
}

/* Bulk sender b: a newsletter (even b: batches of 8 recipients) or a notification service
 * (odd b: one or two recipients a message), each with its own domain, two IPs in its own
 * /24 and a fixed audience of 100 to ~2,100 users that it mails again and again. */
static uint64_t bulk_audience(const opts_t *o, uint64_t b) {
  uint64_t n = 100 + mix(b, 1) % 2000;
  return n < o->users ? n : o->users;
}

/* When user u first takes part in mail: the window's start, or for the share of newcomers a
 * fixed time inside it. Bulk sender b: every fourth starts in the late window. */
static int64_t user_joins(const opts_t *o, uint64_t u) {
  int64_t start = o->start_ts - (int64_t)o->span_s;
  if ((double)(mix(u, 3) % 1000) >= o->newcomers * 1000) return start;
  return start + (int64_t)(mix(u, 4) % o->span_s);
}

static int64_t bulk_starts(const opts_t *o, uint64_t b) {
  int64_t late_start = o->start_ts - (int64_t)o->span_s * 3 / 7;
  if (b % 4 != 3) return o->start_ts - (int64_t)o->span_s;
  return late_start + (int64_t)(mix(b, 5) % ((uint64_t)o->span_s * 3 / 14 + 1));
}

/* One message of bulk sender b to the next part of its audience (subscribers who have not
 * joined by ts are skipped); returns the number of recipients, 0 if none is present. */
static int bulk_message(const opts_t *o, int64_t ts, uint64_t b, uint64_t *cursor, char *sender,
                        char *ip, char *helo, char rcpts[][96]) {
  snprintf(sender, 96, "%s@bulk%" PRIu64 ".example", b % 2 ? "notify" : "news", b);
  snprintf(ip, 64, "10.%" PRIu64 ".%" PRIu64 ".%" PRIu64, 100 + b / 250, b % 250, 10 + below(2));
  snprintf(helo, 96, "mta.bulk%" PRIu64 ".example", b);
  int want = b % 2 ? 1 + (int)below(2) : 8, n = 0;
  uint64_t size = bulk_audience(o, b);
  for (int i = 0; i < want; i++, cursor[b] = (cursor[b] + 1) % size) {
    uint64_t u = mix(b, 1000 + cursor[b]) % o->users;
    if (user_joins(o, u) <= ts) honest_address(o, u, rcpts[n++], 96);
  }
  return n;
}

/* The compromised account whose burst covers ts (a random one if several), or -1. Burst c
 * starts at a fixed point of the late window and lasts burst_s. */
static int64_t burst_account(const opts_t *o, int64_t late_start, int64_t ts) {
  int64_t late_span = o->start_ts - late_start - (int64_t)o->burst_s;
  uint64_t hits = 0, pick = 0;
  for (uint64_t c = 0; c < o->compromised; c++) {
    int64_t from = late_start + (late_span > 0 ? (int64_t)(mix(c, 2) % (uint64_t)late_span) : 0);
    if (ts >= from && ts < from + (int64_t)o->burst_s && below(++hits) == 0) pick = c;
  }
  return hits ? (int64_t)pick : -1;
}

enum { PICK_SKEWED, PICK_ANY, PICK_COMMUNITY };

/* A user present at ts: heavy-tailed (senders), uniform (strangers) or from community c
 * (85% of the time; else anywhere, like an honest user's recipients). */
static uint64_t pick_user(const opts_t *o, int64_t ts, int how, uint64_t c) {
  uint64_t per_comm = o->users / o->communities, u = 0;
  for (int tries = 0; tries < 32; tries++) {
    if (how == PICK_SKEWED)
      u = skewed(o->users);
    else if (how == PICK_COMMUNITY && unit() < 0.85)
      u = c + o->communities * below(per_comm);
    else
      u = below(o->users);
    if (user_joins(o, u) <= ts) break;
  }
  return u;
}

/* Aged accounts: a share of spammer accounts that first mail one person at a time in the
 * early window, so that their age says nothing. */
static bool is_aged(const opts_t *o, uint64_t s) {
  return (double)(mix(s, 6) % 1000) < o->aged * 1000;
}

/* A spammer account's sender, IP and HELO: freemail accounts through the provider's MTAs,
 * like its users; the others from their snowshoe bots. */
static void hard_spam_origin(const opts_t *o, uint64_t account, char *sender, char *ip,
                             char *helo) {
  hard_spam_address(account, sender, 96);
  if (hard_on_freemail(account)) {
    uint64_t p = account % 3, k = below(4);
    snprintf(ip, 64, "10.200.%" PRIu64 ".%" PRIu64, p, 10 + k);
    snprintf(helo, 96, "mx%" PRIu64 ".freemail%" PRIu64 ".example", k, p);
  } else {
    spam_ip((account * 7 + below(2)) % o->spam_ips, ip, 64);
    snprintf(helo, 96, "host%" PRIu64 ".deals%" PRIu64 ".example", below(1000), below(7));
  }
}

static void gen_hard(const opts_t *o) {
  uint64_t attack_every = o->attack_edges ? o->messages / o->attack_edges : 0;
  char sender[96], ip[64], helo[96], rcpts[8][96];
  uint64_t per_comm = o->users / o->communities;
  uint64_t *cursor = calloc(o->bulk_senders ? o->bulk_senders : 1, sizeof *cursor);
  if (!cursor) {
    fprintf(stderr, "gen_mail: out of memory\n");
    exit(2);
  }
  int64_t late_start = o->start_ts - (int64_t)o->span_s * 3 / 7;
  for (uint64_t m = 0; m < o->messages; m++) {
    int64_t ts = o->start_ts - (int64_t)o->span_s +
                 (int64_t)(o->span_s * m / (o->messages ? o->messages : 1));
    bool late = m >= o->messages * 4 / 7;
    if (attack_every && m % attack_every == attack_every / 2) { /* a reply to a spammer */
      uint64_t u = pick_user(o, ts, PICK_ANY, 0);
      honest_address(o, u, sender, sizeof sender);
      honest_ip(o, u, ip, sizeof ip);
      honest_helo(o, u, helo, sizeof helo);
      hard_spam_address(below(o->spammers), rcpts[0], sizeof rcpts[0]);
      print_observation(o, false, ts, sender, ip, helo, rcpts, 1);
    }
    if (!late && o->aged > 0 && unit() < 0.02) { /* an aged account warms up */
      uint64_t account = below(o->spammers);
      for (int tries = 0; tries < 32 && !is_aged(o, account); tries++) account = below(o->spammers);
      if (is_aged(o, account)) {
        hard_spam_origin(o, account, sender, ip, helo);
        honest_address(o, pick_user(o, ts, PICK_ANY, 0), rcpts[0], sizeof rcpts[0]);
        print_observation(o, true, ts, sender, ip, helo, rcpts, 1);
        continue;
      }
    }
    double r = unit();
    if (late && r < o->spam_share) {
      int64_t c = o->compromised && unit() < 0.15 ? burst_account(o, late_start, ts) : -1;
      uint64_t n = 1 + below(4);
      if (c >= 0) { /* the account's own address, server and HELO; contacts and strangers */
        uint64_t u = compromised_user(o, (uint64_t)c);
        honest_address(o, u, sender, sizeof sender);
        honest_ip(o, u, ip, sizeof ip);
        honest_helo(o, u, helo, sizeof helo);
        n = 2 + below(7);
        for (uint64_t i = 0; i < n; i++) {
          uint64_t v = unit() < 0.5 ? u % o->communities + o->communities * below(per_comm)
                                    : pick_user(o, ts, PICK_ANY, 0);
          honest_address(o, v, rcpts[i], sizeof rcpts[i]);
        }
      } else {
        hard_spam_origin(o, below(o->spammers), sender, ip, helo);
        for (uint64_t i = 0; i < n; i++)
          honest_address(o, pick_user(o, ts, PICK_ANY, 0), rcpts[i], sizeof rcpts[i]);
      }
      print_observation(o, true, ts, sender, ip, helo, rcpts, (int)n);
      continue;
    }
    if (o->bulk_senders && r < (late ? o->spam_share : 0) + o->bulk_share) {
      uint64_t b = skewed(o->bulk_senders);
      for (int tries = 0; tries < 32 && bulk_starts(o, b) > ts; tries++)
        b = skewed(o->bulk_senders);
      if (bulk_starts(o, b) > ts) b = 0;
      int n = bulk_message(o, ts, b, cursor, sender, ip, helo, rcpts);
      if (n) print_observation(o, false, ts, sender, ip, helo, rcpts, n);
      continue;
    }
    uint64_t u = pick_user(o, ts, PICK_SKEWED, 0), c = u % o->communities,
             n = 1 + below(3) * (unit() < 0.2);
    honest_address(o, u, sender, sizeof sender);
    honest_ip(o, u, ip, sizeof ip);
    honest_helo(o, u, helo, sizeof helo);
    uint64_t first_rcpt = 0;
    for (uint64_t i = 0; i < n; i++) {
      uint64_t v = pick_user(o, ts, PICK_COMMUNITY, c);
      if (i == 0) first_rcpt = v;
      honest_address(o, v, rcpts[i], sizeof rcpts[i]);
    }
    print_observation(o, false, ts, sender, ip, helo, rcpts, (int)n);
    if (unit() < o->reply_rate && first_rcpt != u) {
      char back[1][96];
      snprintf(back[0], sizeof back[0], "%s", sender);
      honest_address(o, first_rcpt, sender, sizeof sender);
      honest_ip(o, first_rcpt, ip, sizeof ip);
      honest_helo(o, first_rcpt, helo, sizeof helo);
      print_observation(o, false, ts + 60, sender, ip, helo, back, 1);
    }
  }
  free(cursor);
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: gen_mail [--messages N] [--users N] [--communities N] [--spammers N]\n"
          "                [--spam-ips N] [--spam-share F] [--spam-freemail F]\n"
          "                [--compromised N] [--attack-edges N] [--reply-rate F] [--seed N]\n"
          "                [--start-ts EPOCH] [--span-days N] [--truth FILE]\n"
          "                [--hard] [--bulk-senders N] [--bulk-share F] [--burst-hours N]\n"
          "                [--newcomers F] [--aged-spammers F]\n"
          "                [--actors FILE] [--message-truth FILE] [--labels FILE]\n"
          "                [--label-share F] [--label-noise F] [--label-seed N]\n"
          "Writes NDJSON observations for `repgraph ingest`. Defaults: 10000 messages, 2000\n"
          "users in 40 communities, 20 spammers (10%% on freemail) on 64 IPs, 20%% spam, 5\n"
          "compromised accounts, 20 attack edges, 30%% replies, seed 1; messages spread over\n"
          "the 7 days before --start-ts (default: 1700000000), abuse in the last 3 days.\n"
          "--hard: 40%% of spammers on freemail sending through the providers' MTAs, 40 bulk\n"
          "senders (half newsletters, half notifications) with 15%% of messages, each mailing a\n"
          "fixed audience from its own domain and IPs, compromised organisation accounts sending\n"
          "6-hour bursts from their usual server, and 5%% of user reports wrong (--label-noise);\n"
          "age alone is not enough: 30%% of spammer accounts first mail single people early\n"
          "in the window (--aged-spammers), 10%% of users join during it (--newcomers), every\n"
          "fourth bulk sender starts in the late window.\n"
          "--actors FILE: actor<TAB>good|bad<TAB>case for every actor in the traffic; cases:\n"
          "  addresses honest, freemail_user, colleague (an organisation with a compromised\n"
          "  account), bulk, compromised, spammer, freemail_spammer; infrastructure org,\n"
          "  compromised_org, freemail, bulk, snowshoe, spam_domain.\n"
          "--message-truth FILE: line<TAB>spam|ham<TAB>case (the sender's case), line = the\n"
          "  observation's 0-based line number on stdout.\n"
          "--labels FILE: CSV for `repgraph label --file`: --label-share (default 0.05) of\n"
          "  each actor type and verdict; bad address labels are user spam reports, of which\n"
          "  --label-noise F are wrong, on honest senders, half of them bulk (with F > 0 their\n"
          "  source is user_report, all others analyst); --label-seed N (default: --seed).\n");
}

int main(int argc, char **argv) {
  opts_t o = {.messages = 10000,
              .users = 2000,
              .communities = 40,
              .spammers = 20,
              .spam_ips = 64,
              .compromised = 5,
              .attack_edges = 20,
              .spam_freemail = 0.1,
              .spam_share = 0.2,
              .reply_rate = 0.3,
              .seed = 1,
              .start_ts = 1700000000,
              .span_s = 7 * 86400,
              .bulk_senders = 40,
              .bulk_share = 0.15,
              .burst_s = 6 * 3600,
              .label_share = 0.05,
              .label_noise = -1};
  bool freemail_set = false, seed_set = false;
  enum {
    O_HARD = 256,
    O_BULK,
    O_BULK_SHARE,
    O_BURST,
    O_ACTORS,
    O_MTRUTH,
    O_LABELS,
    O_LSHARE,
    O_LNOISE,
    O_LSEED,
    O_NEWCOMERS,
    O_AGED
  };
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
                                           {"hard", 0, NULL, O_HARD},
                                           {"bulk-senders", 1, NULL, O_BULK},
                                           {"bulk-share", 1, NULL, O_BULK_SHARE},
                                           {"burst-hours", 1, NULL, O_BURST},
                                           {"actors", 1, NULL, O_ACTORS},
                                           {"message-truth", 1, NULL, O_MTRUTH},
                                           {"labels", 1, NULL, O_LABELS},
                                           {"label-share", 1, NULL, O_LSHARE},
                                           {"label-noise", 1, NULL, O_LNOISE},
                                           {"label-seed", 1, NULL, O_LSEED},
                                           {"newcomers", 1, NULL, O_NEWCOMERS},
                                           {"aged-spammers", 1, NULL, O_AGED},
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
      case 'F': o.spam_freemail = strtod(optarg, NULL), freemail_set = true; break;
      case O_HARD: o.hard = true; break;
      case O_BULK: o.bulk_senders = strtoull(optarg, NULL, 10); break;
      case O_BULK_SHARE: o.bulk_share = strtod(optarg, NULL); break;
      case O_BURST: o.burst_s = strtoull(optarg, NULL, 10) * 3600; break;
      case O_ACTORS: o.actors = optarg; break;
      case O_MTRUTH: o.message_truth = optarg; break;
      case O_LABELS: o.labels = optarg; break;
      case O_LSHARE: o.label_share = strtod(optarg, NULL); break;
      case O_LNOISE: o.label_noise = strtod(optarg, NULL); break;
      case O_LSEED: o.label_seed = strtoull(optarg, NULL, 10), seed_set = true; break;
      case O_NEWCOMERS: o.newcomers = strtod(optarg, NULL); break;
      case O_AGED: o.aged = strtod(optarg, NULL); break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (!o.users || !o.communities || !o.spammers || !o.spam_ips || o.communities > o.users ||
      o.label_share < 0 || o.label_share > 1 || o.label_noise > 1 || o.bulk_share < 0 ||
      o.bulk_senders > 250 * 100) {
    usage(stderr);
    return 2;
  }
  if (o.hard && !freemail_set) o.spam_freemail = 0.4;
  if (o.label_noise < 0) o.label_noise = o.hard ? 0.05 : 0;
  if (!seed_set) o.label_seed = o.seed;
  rng_state = o.seed;
  spam_freemail_share = o.spam_freemail;
  hard_mode = o.hard;
  user_compromised = calloc(o.users, sizeof *user_compromised);
  org_compromised = calloc(o.communities, sizeof *org_compromised);
  if (!user_compromised || !org_compromised) {
    fprintf(stderr, "gen_mail: out of memory\n");
    return 2;
  }
  for (uint64_t c = 0; c < o.compromised; c++) {
    uint64_t u = compromised_user(&o, c);
    user_compromised[u] = true;
    if (u % 5) org_compromised[u % o.communities] = true;
  }
  if (o.truth && !o.hard) write_truth(&o);
  if (o.actors || o.labels || (o.truth && o.hard)) registry = gt_new();
  if (o.message_truth && !(message_truth = fopen(o.message_truth, "w"))) {
    perror(o.message_truth);
    return 2;
  }
  if (o.hard)
    gen_hard(&o);
  else
    gen_planted(&o);
  if (fflush(stdout) || ferror(stdout)) {
    perror("stdout");
    return 2;
  }
  if (message_truth && (ferror(message_truth) | fclose(message_truth))) {
    perror(o.message_truth);
    return 2;
  }
  if (registry && o.truth && o.hard) gt_write_actors(registry, o.truth, false);
  if (registry && o.actors) gt_write_actors(registry, o.actors, true);
  if (registry && o.labels)
    gt_write_labels(registry, o.labels, o.label_share, o.label_noise, o.label_seed);
  gt_free(registry);
  free(user_compromised);
  free(org_compromised);
  return 0;
}
