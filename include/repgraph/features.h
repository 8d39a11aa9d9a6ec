/* features.h — the learned model's per-actor features: one table (name, unit, meaning, the
 * words a reason uses), computed from a snapshot and its recomputation. No label leaks into
 * its own actor's row: a labelled actor's propagation features (masses, neighbours judged
 * bad, community seed shares) come from the walks without its fold's seeds (compute.h
 * opts.fold), every other row from the served walks. Pure arithmetic; any thread. */
#ifndef RG_FEATURES_H
#define RG_FEATURES_H

#include <stddef.h>
#include <stdint.h>

/* X(NAME, name, unit, meaning, companion, words). `words` is a printf format of the value
 * (%1$g-style arguments are not used: it gets the value, then the companion feature's value
 * when companion is not NONE). Append only: feature numbers are stored in reasons. */
#define RG_FEATURE_MAP(X)                                                                         \
  X(TYPE, "type", "enum", "actor type (1 address, 2 ip, 3 net, 4 domain)", NONE,                  \
    "actor type %.0f")                                                                            \
  X(MESSAGES, "messages", "messages", "observations that named it", NONE, "seen in %.0f messages") \
  X(AGE_H, "age_h", "hours", "since it was first seen", NONE, "first seen %.0f hours ago")        \
  X(ACTIVE_H, "active_h", "hours", "from first to last seen", NONE, "active for %.0f hours")      \
  X(RATE, "rate", "messages/hour", "messages per active hour (at least 1 h): bursts", NONE,       \
    "%.0f messages per active hour")                                                              \
  X(OUT_MAILED, "out_mailed", "actors", "distinct recipients it mailed (fan-out)", NONE,          \
    "mailed %.0f recipients")                                                                     \
  X(IN_MAILED, "in_mailed", "actors", "distinct senders that mailed it (fan-in)", NONE,           \
    "mailed by %.0f senders")                                                                     \
  X(OUT_MAILED_MSGS, "out_mailed_msgs", "messages", "messages to its recipients", NONE,           \
    "sent %.0f recipient-messages")                                                               \
  X(IN_MAILED_MSGS, "in_mailed_msgs", "messages", "messages it received", NONE,                   \
    "received %.0f messages")                                                                     \
  X(OUT_SENT_FROM, "out_sent_from", "actors", "IPs it sends from", NONE, "sends from %.0f IPs")   \
  X(IN_SENT_FROM, "in_sent_from", "actors", "senders using this IP", NONE,                        \
    "%.0f senders use this IP")                                                                   \
  X(OUT_IN_NET, "out_in_net", "actors", "nets of this IP", NONE, "in %.0f nets")                  \
  X(IN_IN_NET, "in_in_net", "actors", "IPs seen in this net", NONE, "%.0f IPs seen in this net")  \
  X(OUT_USES_DOMAIN, "out_uses_domain", "actors", "domains it sends as", NONE,                    \
    "sends as %.0f domains")                                                                      \
  X(IN_USES_DOMAIN, "in_uses_domain", "actors", "senders of this domain", NONE,                   \
    "%.0f senders use this domain")                                                               \
  X(OUT_HELO, "out_helo", "actors", "HELO names this IP used", NONE, "used %.0f HELO names")      \
  X(IN_HELO, "in_helo", "actors", "IPs that used this HELO name", NONE,                           \
    "%.0f IPs used this HELO name")                                                               \
  X(OUT_RDNS, "out_rdns", "actors", "reverse-DNS names of this IP", NONE,                         \
    "%.0f reverse-DNS names")                                                                     \
  X(IN_RDNS, "in_rdns", "actors", "IPs whose reverse DNS is this domain", NONE,                   \
    "reverse DNS of %.0f IPs")                                                                    \
  X(RECIPROCITY, "reciprocity", "share", "share of its recipients that ever wrote back", NONE,    \
    "%.0f%% of its recipients wrote back")                                                        \
  X(REPEAT, "repeat", "share", "share of its recipients mailed more than once", NONE,             \
    "%.0f%% of its recipients mailed more than once")                                             \
  X(AUDIENCE, "audience", "share",                                                                \
    "share of this period's recipients (last 24 h of activity) already mailed before it", NONE,   \
    "%.0f%% of its recent recipients were mailed before")                                         \
  X(FRESH, "fresh", "actors", "recipients first mailed in this period", NONE,                     \
    "mailed %.0f new recipients in its last 24 h")                                                \
  X(CO_SENDERS, "co_senders", "actors", "mean other senders targeting each of its recipients",   \
    NONE, "its recipients get mail from %.1f other senders each")                                 \
  X(IP_SENDERS_MAX, "ip_senders_max", "actors", "senders on the most shared of its IPs", NONE,    \
    "its busiest IP carries %.0f senders")                                                        \
  X(NETS, "nets", "actors", "distinct nets of the IPs it sends from", NONE,                       \
    "sends from %.0f nets")                                                                       \
  X(DOMAIN_SENDERS, "domain_senders", "actors", "senders of its (largest) domain", NONE,          \
    "its domain has %.0f senders")                                                                \
  X(EGO_NODES, "ego_nodes", "actors", "egonet size (distinct neighbours + 1)", NONE,              \
    "%.0f actors in its neighbourhood")                                                           \
  X(EGO_EDGES, "ego_edges", "edges", "edges within its egonet", NONE,                             \
    "%.0f edges in its neighbourhood")                                                            \
  X(ODDBALL, "oddball", "score", "OddBall egonet deviation from the population", NONE,            \
    "egonet deviation %.2f")                                                                      \
  X(ANOMALY, "anomaly", "score", "repgraph's combined anomaly score", NONE,                       \
    "anomaly score %.2f")                                                                         \
  X(COMMUNITY_SIZE, "community_size", "actors", "size of its Louvain community", NONE,            \
    "in a community of %.0f actors")                                                              \
  X(BAD_MASS, "bad_mass", "mass", "mass reaching it from bad seeds (out of fold)", NONE,          \
    "bad propagation mass %.3g")                                                                  \
  X(GOOD_MASS, "good_mass", "mass", "mass reaching it from good seeds (out of fold)", NONE,       \
    "good propagation mass %.3g")                                                                 \
  X(PROPAGATED, "propagated", "share", "bad / (bad + good) mass, smoothed: propagation alone",    \
    NONE, "propagation score %.2f")                                                               \
  X(INFRA, "infra", "actors", "neighbours over infrastructure edges (IPs, nets, domains, HELO)", \
    NONE, "%.0f infrastructure neighbours")                                                       \
  X(INFRA_BAD, "infra_bad", "actors", "of those, labelled or scored bad", INFRA,                  \
    "%.0f of its %.0f infrastructure neighbours are bad")                                         \
  X(INFRA_GOOD, "infra_good", "actors", "of those, labelled or scored good", INFRA,               \
    "%.0f of its %.0f infrastructure neighbours are good")                                        \
  X(INFRA_REP, "infra_rep", "share", "mean propagation score of its infrastructure neighbours",  \
    NONE, "its infrastructure neighbours score %.2f on average")                                  \
  X(IPS_BAD, "ips_bad", "actors", "of the IPs it sends from, labelled or scored bad",             \
    OUT_SENT_FROM, "%.0f of its %.0f IPs are bad")                                                \
  X(SENDERS_BAD, "senders_bad", "actors", "of the senders using this IP or domain, bad",          \
    INFRA, "%.0f of its %.0f users are bad")                                                      \
  X(RECIPIENT_REP, "recipient_rep", "share", "mean propagation score of its recipients", NONE,    \
    "its recipients score %.2f on average")                                                       \
  X(MAILER_BAD, "mailer_bad", "share", "share of the senders that mail it that are bad", NONE,    \
    "%.0f%% of the senders that mail it are bad")                                                 \
  X(CO_SENDER_BAD, "co_sender_bad", "share",                                                      \
    "share of the other senders targeting its recipients that are bad", NONE,                     \
    "%.0f%% of the other senders mailing its recipients are bad")                                 \
  X(COMMUNITY_BAD, "community_bad", "share", "bad-labelled share of its community (not itself)", \
    NONE, "%.1f%% of its community is labelled bad")                                              \
  X(COMMUNITY_GOOD, "community_good", "share",                                                    \
    "good-labelled share of its community (not itself)", NONE,                                    \
    "%.1f%% of its community is labelled good")                                                   \
  X(COMMUNITY_REP, "community_rep", "share", "mean propagation score of its community (not it)", \
    NONE, "its community scores %.2f on average")                                                 \
  X(BURST, "burst", "actors", "recipients first mailed within its busiest 6 hours", OUT_MAILED,   \
    "mailed %.0f of its %.0f recipients for the first time within 6 hours")

typedef enum {
#define RG__FEATURE_ENUM(name, text, unit, doc, comp, words) RG_FEAT_##name,
  RG_FEATURE_MAP(RG__FEATURE_ENUM)
#undef RG__FEATURE_ENUM
  RG_FEATURE_COUNT,
  RG_FEAT_NONE = -1
} rg_feature_t;

/* Name, unit and meaning of feature i (NULL when out of range). */
const char *rg_feature_name(int i);
const char *rg_feature_unit(int i);
const char *rg_feature_meaning(int i);

/* The feature whose value completes feature i's words ("3 of its 4 IPs"), or RG_FEAT_NONE. */
int rg_feature_companion(int i);

/* Feature i's value in words into buf (capacity cap), with the companion's value when it
 * has one; shares (unit "share" with a %% in the words) are shown in percent. Returns buf. */
const char *rg_feature_words(int i, double value, double companion, char *buf, size_t cap);

#endif
