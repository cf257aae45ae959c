-- id: identical_baskets
-- category: abnormal_swipe
-- severity: medium
-- title_zh: 多人购药清单完全相同
-- title_en: Identical baskets across many persons
-- why_zh: 不同的人病情不同，买的药品种和数量很少完全一样。同一门店在几天内出现多人的多品种购药清单（品种和数量）一模一样，常见于按模板虚构处方、代刷收来的医保卡。只看至少 min_items 个品种的清单，单品购药（如一盒感冒药）很常见，不比较。
-- why_zh: 相邻两次相同清单间隔不超过 window_days 天的算一组；人数达到 min_persons 报中风险，达到 high_persons 报高风险。已冲销的结算不计。
-- why_en: Different people have different illnesses and rarely buy exactly the same items in the same quantities. The same multi-item basket (items and quantities) for many persons at one store within days is typical of prescriptions invented from a template and of collected cards swiped by staff. Only baskets of at least min_items items are compared; single-item purchases (a box of cold medicine) are common.
-- why_en: Identical baskets each within window_days days of the previous form one group; min_persons persons make a medium finding, high_persons a high one. Reversed settlements do not count.
-- message_zh: {store} 于 {day_first} 至 {day_last} 有 {n_psn} 人的购药清单完全相同（{n_items} 个品种：{items}，合计 {basket_fen} 元/单），共 {n} 笔结算；医保基金及个人账户支付 {amount_fen} 元
-- message_en: {n_psn} persons bought exactly the same basket at {store} between {day_first} and {day_last} ({n_items} items: {items}, {basket_fen} yuan each), {n} settlements; insurance paid {amount_fen} yuan
-- param min_items = 2  # baskets with fewer distinct items are not compared
-- param_zh min_items: 品种数少于此数的购药清单不比较
-- param min_persons = 5  # different persons with the same basket needed for a finding
-- param_zh min_persons: 购药清单相同的不同参保人达到这么多人才报
-- param high_persons = 8  # from this many persons the finding is high severity
-- param_zh high_persons: 达到这么多人记为高严重程度
-- param window_days = 7  # identical baskets at most this many days apart belong to one group
-- param_zh window_days: 相隔不超过这么多天的相同清单归为一组
WITH valid AS (
    SELECT s.id, s.store, s.setl_id, s.psn_no, s.epoch, s.day, s.insurance_fen FROM v_settlement s
    WHERE LENGTH(s.psn_no) > 0
), basket AS (
    -- an order-independent signature of the basket: number of lines and items, first and last
    -- item id, total quantity, sum of squared quantities and total amount; per setl_id from the
    -- lines alone, then joined to the settlements (grouping the joined rows took longer)
    SELECT v.id, v.store, v.setl_id, v.psn_no, v.epoch, v.day, v.insurance_fen,
           b.n_lines, b.n_items, b.i_min, b.i_max, b.qty, b.basket_fen, b.chk
    FROM valid v
    JOIN (SELECT l.setl_id, l.store, COUNT(*) AS n_lines, COUNT(DISTINCT l.item_id) AS n_items, MIN(l.item_id) AS i_min,
                 MAX(l.item_id) AS i_max, SUM(l.qty) AS qty, SUM(COALESCE(l.amount_fen, 0)) AS basket_fen,
                 SUM(l.qty * l.qty) AS chk
          FROM settlement_lines l
          WHERE l.deleted = 0 AND l.item_id IS NOT NULL AND l.qty IS NOT NULL
          GROUP BY l.setl_id, l.store
          HAVING COUNT(DISTINCT l.item_id) >= :min_items) b ON b.setl_id = v.setl_id AND b.store = v.store
), seq AS (
    SELECT basket.*, LAG(epoch) OVER (PARTITION BY store, n_lines, n_items, i_min, i_max, qty, basket_fen, chk
                                      ORDER BY epoch, id) AS prev_epoch
    FROM basket
), grp AS (
    SELECT seq.*,
           SUM(CASE WHEN prev_epoch IS NULL OR epoch - prev_epoch > :window_days * 86400 THEN 1 ELSE 0 END)
               OVER (PARTITION BY store, n_lines, n_items, i_min, i_max, qty, basket_fen, chk
                     ORDER BY epoch, id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS g
    FROM seq
), found AS (
    -- the groups of at least min_persons persons, found without building any list
    SELECT store, n_lines, n_items, i_min, i_max, qty, basket_fen, chk, g FROM grp
    GROUP BY store, n_lines, n_items, i_min, i_max, qty, basket_fen, chk, g
    HAVING COUNT(DISTINCT psn_no) >= :min_persons
), member AS (
    -- the settlements of the groups found, with their item lists (for these only). A join
    -- with the groups found (one row per group), not EXISTS: SQLite grouped all baskets
    -- again for every basket of a 26k-line ledger (62 s for this rule)
    SELECT m.store, m.n_lines, m.n_items, m.i_min, m.i_max, m.qty, m.basket_fen, m.chk, m.g, m.id, m.setl_id, m.psn_no,
           m.day, m.insurance_fen, GROUP_CONCAT(DISTINCT l.item_id) AS items
    FROM found f
    JOIN grp m ON f.store = m.store AND f.n_lines = m.n_lines AND f.n_items = m.n_items AND f.i_min = m.i_min
                  AND f.i_max = m.i_max AND f.qty = m.qty AND f.basket_fen = m.basket_fen AND f.chk = m.chk AND f.g = m.g
    JOIN settlement_lines l ON l.setl_id = m.setl_id AND l.store = m.store AND l.deleted = 0
    WHERE l.item_id IS NOT NULL AND l.qty IS NOT NULL
    GROUP BY m.store, m.n_lines, m.n_items, m.i_min, m.i_max, m.qty, m.basket_fen, m.chk, m.g, m.id, m.setl_id, m.psn_no,
             m.day, m.insurance_fen
)
SELECT store, COUNT(*) AS n, COUNT(DISTINCT psn_no) AS n_psn, MIN(n_items) AS n_items, MIN(items) AS items,
       MIN(basket_fen) AS basket_fen, MIN(day) AS day_first, MAX(day) AS day_last,
       SUM(COALESCE(insurance_fen, 0)) AS amount_fen, GROUP_CONCAT(setl_id) AS setl_ids,
       GROUP_CONCAT(DISTINCT psn_no) AS psn_nos, GROUP_CONCAT('settlements:' || id) AS evidence,
       CASE WHEN COUNT(DISTINCT psn_no) >= :high_persons THEN 'high' ELSE 'medium' END AS severity
FROM member
GROUP BY store, n_lines, n_items, i_min, i_max, qty, basket_fen, chk, g
ORDER BY store, day_first
