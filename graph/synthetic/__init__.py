"""Synthetic social-commerce worlds with known ground truth, deterministic from a seed.

:func:`generate_world` builds a :class:`World` (numpy columns, fast enough for 1M users) from a
:class:`WorldConfig`; :func:`write_world` writes it in the input directory format of
:mod:`graph.readers` plus ground-truth files, optionally with a known set of corrupt rows.

Mechanics
---------
1. **Communities.** Users are split into ``num_communities`` communities (sizes from a
   Dirichlet(4) draw, so uneven but comparable). Each community has a home region (a user lives
   there with probability 0.8) and prefers ``categories_per_community`` categories with
   Dirichlet(1) weights; every user perturbs those weights (Dirichlet with concentration 3).
2. **Catalogue.** Each item has a home community (drawn by community size) and, with probability
   ``item_focus``, a category preferred by that community (else a uniform category), a random
   appeal rank (its popularity order) and a lognormal price: each category has a median drawn
   log-uniformly from ``price_median_range`` and ``price_sigma`` is the log-scale spread.
3. **Friendships** (``friend``, mutual). ``num_users * avg_friends / 2`` pairs: one end drawn
   with a lognormal "sociability" weight, the other from the same community with probability
   ``homophily``, else uniformly. So the within-community share of friendships is about
   ``homophily + (1 - homophily) * sum(community_share ** 2)``.
4. **Follows** (``follow``) and **KOLs.** ``round(kol_fraction * num_users)`` accounts are key
   opinion leaders with fame ``rank ** -follow_exponent``. Each user makes on average
   ``avg_follows`` follows; a share ``kol_follow_share`` of them goes to a KOL (one of the own
   community's KOLs with probability ``homophily``, chosen by fame), the rest to a uniform user
   (own community with probability ``homophily``). A few KOLs thus get very many followers.
   **Niches:** each KOL has a niche, one of its community's preferred categories (by the
   community's weights). A share ``kol_niche_share`` of KOL follows instead goes by interest:
   the follower picks a category its own community prefers (by those weights) and follows a
   KOL of that niche from any community, chosen by fame (the community rule stays when no KOL
   has that niche). Fans of a niche thus follow several of its KOLs, across communities, so
   KOLs of one niche share much of their audience. **Fan loyalty:** with probability
   ``kol_fan_loyalty`` a niche follow goes to the follower's favourite category (one per user,
   drawn the same way) instead of a fresh pick, so a fan's KOL follows concentrate on one
   niche and same-niche KOL audiences overlap more (0, the default, adds no random draw, so
   worlds are unchanged).
   Self-follows, repeats and follows of an existing friend are dropped.
5. **Organic engagements.** User activity is lognormal (``activity_sigma``) around
   ``interactions_per_user`` engagements (at least one each), at uniform times in
   ``[start_ts, start_ts + duration_s]``. With probability ``taste_focus`` an engagement picks
   a category from the user's taste and an item of the user's community in that category
   (falling back to the whole category when the community has none); otherwise it explores the
   whole catalogue. Within the chosen pool the item is drawn by appeal rank with a Zipf law of
   exponent ``popularity_exponent``. An engagement writes a ``view``, then ``click`` with
   probability ``funnel[0]``, ``cart`` given click ``funnel[1]`` and ``purchase`` given cart
   ``funnel[2]``, each a little later than the previous step.
6. **Social influence** (the signal, an independent cascade on purchases). User ``v``
   *attends to* ``u`` when they are friends or ``v`` follows ``u``; ``attention_degree[v]``
   counts the accounts ``v`` attends to. When ``u`` first buys an item, each ``v`` attending to
   ``u`` is exposed with probability
   ``min(1, social_influence / (social_conversion * attention_degree[v]))``: ``v`` views the
   item after an exponential delay (mean ``influence_delay_s``) and then buys it (click,
   purchase) with probability ``social_conversion``, or else only browses (a click with
   probability ``funnel[0]``). The per-edge activation probability is therefore
   :func:`activation_probability`, which depends on the receiver only
   (``World.influence_prob``); summed over the accounts a user attends to it is at most
   ``social_influence``. Users who buy the item organically (at any time in the window) or were
   already activated for it are not exposed; of several exposures of one user to one item in a
   generation only the earliest may convert; a step that would fall after the end of the window
   is dropped. Hence, up to the window, each item's buyers are an independent cascade seeded by
   its organic buyers, a purchase induces about ``social_influence`` purchases on average (< 1,
   so cascades die out) and about that share of all purchases is socially induced (less where
   the window cuts cascades short). Every row of an induced engagement records its
   ``influencer`` (the buyer whose purchase exposed the user), which bought the item earlier.

Homophily (friends share a community, hence a taste) means friends co-purchase even with
``social_influence = 0``; :func:`attended_purchase_share` measures how often a purchase's item
was bought earlier by an attended account, so the two effects can be compared.

Reach ground truth from a snapshot: a snapshot social edge ``src -> dst`` means ``src`` attends
to ``dst`` (:mod:`graph.snapshot`), so its activation probability is
``activation_probability(out_degree(src), social_influence, social_conversion)``.
"""

from graph.synthetic.config import (
    CART,
    CLICK,
    PURCHASE,
    VIEW,
    GenerateProgress,
    WorldConfig,
    activation_probability,
)
from graph.synthetic.generate import generate_world
from graph.synthetic.truth import (
    attended_purchase_share,
    within_community_friend_share,
    world_stats,
)
from graph.synthetic.world import World
from graph.synthetic.write import CORRUPTION_TABLES, WorldFiles, write_world

__all__ = [
    "CART",
    "CLICK",
    "CORRUPTION_TABLES",
    "PURCHASE",
    "VIEW",
    "GenerateProgress",
    "World",
    "WorldConfig",
    "WorldFiles",
    "activation_probability",
    "attended_purchase_share",
    "generate_world",
    "within_community_friend_share",
    "world_stats",
    "write_world",
]
