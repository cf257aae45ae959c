-- id: person_multi_store
-- category: abnormal_swipe
-- severity: medium
-- scope: all_stores
-- title_zh: 同一人短时间内在多家门店刷卡
-- title_en: Same card at several stores within a short time
-- why_zh: 一个人在一小时内先后到两三家药店各刷一次医保卡很少见，常见于医保卡被人借用、收集后在多家门店代刷，或为了躲避单店的次数和金额限制。每相邻两次结算间隔不超过 window_min 分钟的连续结算算作一组。
-- why_zh: 两家门店为中风险（有时确实是第一家缺货），三家及以上为高风险。本店和其他门店都会收到这条发现，金额为本店部分。已冲销的结算不计。
-- why_en: One person swiping the card at two or three pharmacies within an hour is rare; it is typical of borrowed or collected cards swiped at several stores, or of dodging per-store limits. Settlements of one person each within window_min minutes of the previous form one group.
-- why_en: Two stores is medium severity (the first store may really have lacked the drug), three or more high. Every store involved gets the finding, with its own share as the amount. Reversed settlements do not count.
-- message_zh: 参保人 {psn_no} 在 {first_ts} 至 {last_ts} 之间于 {n_stores} 家门店（{stores}）结算 {n} 次；本店医保基金及个人账户支付 {amount_fen} 元，合计 {total_fen} 元
-- message_en: person {psn_no} settled {n} times at {n_stores} stores ({stores}) between {first_ts} and {last_ts}; insurance paid {amount_fen} yuan here, {total_fen} yuan in all
-- param window_min = 60  # settlements of one person this many minutes apart or less belong to one group
-- param_zh window_min: 同一人相隔不超过这么多分钟的结算归为一组
-- param high_stores = 3  # from this many different stores in a group the finding is high severity
-- param_zh high_stores: 一组涉及这么多家不同门店记为高严重程度
WITH multi AS (
    -- persons seen at two stores or more: only their settlements can form a group below
    -- (a few; the windows then sort their settlements only)
    SELECT psn_no FROM v_settlement WHERE psn_no IS NOT NULL AND psn_no <> ''
    GROUP BY psn_no HAVING MIN(store) < MAX(store)
), seq AS (
    SELECT v.id, v.store, v.setl_id, v.psn_no, v.epoch, v.ts, v.day, v.insurance_fen,
           LAG(v.epoch) OVER (PARTITION BY v.psn_no ORDER BY v.epoch, v.id) AS prev_epoch
    FROM multi m JOIN v_settlement v ON v.psn_no = m.psn_no
), grp AS (
    SELECT seq.*,
           SUM(CASE WHEN prev_epoch IS NULL OR epoch - prev_epoch > :window_min * 60 THEN 1 ELSE 0 END)
               OVER (PARTITION BY psn_no ORDER BY epoch, id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS g
    FROM seq
), groups AS (
    SELECT psn_no, g, COUNT(*) AS n, COUNT(DISTINCT store) AS n_stores, MIN(ts) AS first_ts, MAX(ts) AS last_ts,
           MIN(day) AS day_first, MAX(day) AS day_last, SUM(COALESCE(insurance_fen, 0)) AS total_fen,
           GROUP_CONCAT(DISTINCT store) AS stores, GROUP_CONCAT(setl_id) AS setl_ids,
           GROUP_CONCAT('settlements:' || id) AS evidence
    FROM grp GROUP BY psn_no, g
    HAVING COUNT(DISTINCT store) >= 2
), here AS (
    SELECT psn_no, g, store, SUM(COALESCE(insurance_fen, 0)) AS amount_fen
    FROM grp GROUP BY psn_no, g, store
)
SELECT h.store, x.psn_no, x.psn_no AS psn_nos, x.n, x.n_stores, x.stores, x.first_ts, x.last_ts, x.day_first,
       x.day_last, x.total_fen, h.amount_fen, x.setl_ids, x.evidence,
       CASE WHEN x.n_stores >= :high_stores THEN 'high' ELSE 'medium' END AS severity
FROM groups x JOIN here h ON h.psn_no = x.psn_no AND h.g = x.g
ORDER BY h.store, x.first_ts
