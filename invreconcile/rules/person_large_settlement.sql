-- id: person_large_settlement
-- category: abnormal_swipe
-- severity: medium
-- title_zh: 单次大额结算
-- title_en: Large single settlement
-- why_zh: 零售药店的一次医保购药通常只有几十到一二百元。单笔结算远超一个月的刷卡限额（上海1200元），常见于囤药、代刷、回流药或把非医保商品串换进医保结算，需要核对处方和实物出库。
-- why_zh: 上海规定单次购买非处方药一般不超过200元：把 otc_limit_fen 设为 20000 可对只含非处方药的结算启用该限额（默认关闭，因为很多地方没有这条规定）。已冲销的结算不计。
-- why_en: An insured pharmacy purchase is usually tens to one or two hundred yuan. A single settlement well above a whole month's card limit (Shanghai: 1,200 yuan) is typical of stockpiling, cards swiped by staff, resold drugs, or non-covered goods billed as covered drugs; check the prescription and the goods that left.
-- why_en: Shanghai also caps a single OTC purchase at about 200 yuan: set otc_limit_fen = 20000 to apply it to settlements of OTC drugs only (off by default, most regions have no such rule). Reversed settlements do not count.
-- message_zh: 参保人 {psn_no} 于 {ts} 在 {store} 单笔结算 {total_fen} 元（{n_lines} 个品种），超过 {limit_fen} 元{otc_zh}；医保基金及个人账户支付 {amount_fen} 元
-- message_en: person {psn_no} settled {total_fen} yuan in one settlement at {store} on {ts} ({n_lines} item(s)), above {limit_fen} yuan{otc_en}; insurance paid {amount_fen} yuan
-- param large_fen = 200000  # a single settlement total (medfee_sumamt) above this is reported, fen (2,000 yuan: 1.7 times Shanghai's 1,200-yuan monthly limit in one go; legitimate expensive purchases such as 安宫牛黄丸 or a quarter's anticoagulant reach 1,000-1,500 yuan)
-- param_zh large_fen: 单笔结算总额（medfee_sumamt）超过此数即报，分（2,000 元：一次即达上海每月 1,200 元限额的 1.7 倍；安宫牛黄丸或一季度抗凝药等合理的高价购药在 1,000-1,500 元）
-- param otc_limit_fen = 0  # limit for settlements of OTC drugs only, fen; 0 = off (Shanghai: 20000 = 200 yuan)
-- param_zh otc_limit_fen: 只含 OTC 药品的结算的限额，分；0 = 不检查（上海：20000 = 200 元）
WITH valid AS (
    -- the settlements above one of the limits: their lines are looked at below, not every
    -- settlement's
    SELECT s.id, s.store, s.setl_id, s.psn_no, s.ts, s.day, s.epoch, s.insurance_fen,
           COALESCE(s.medfee_fen, s.insurance_fen, 0) AS total_fen
    FROM v_settlement s
    WHERE COALESCE(s.medfee_fen, s.insurance_fen, 0) > :large_fen
       OR (:otc_limit_fen > 0 AND COALESCE(s.medfee_fen, s.insurance_fen, 0) > :otc_limit_fen)
), lines AS (
    SELECT l.setl_id, l.store, COUNT(DISTINCT l.item_id) AS n_lines, GROUP_CONCAT(DISTINCT l.item_id) AS items,
           SUM(CASE WHEN COALESCE(o.rx_flag, g.rx_flag, '1') IN ('0', 'N', 'n', 'false', '否', '非处方') THEN 0 ELSE 1 END) AS rx_lines
    FROM (SELECT DISTINCT setl_id, store FROM valid) v
    JOIN settlement_lines l ON l.setl_id = v.setl_id AND l.store = v.store
    LEFT JOIN items o ON o.store = l.store AND o.item_id = l.item_id
    LEFT JOIN items g ON g.store = '' AND g.item_id = l.item_id
    WHERE l.deleted = 0
    GROUP BY l.setl_id, l.store
), big AS (
    SELECT v.*, COALESCE(ln.n_lines, 0) AS n_lines, ln.items, COALESCE(ln.rx_lines, 1) AS rx_lines
    FROM valid v LEFT JOIN lines ln ON ln.setl_id = v.setl_id AND ln.store = v.store
)
SELECT store, psn_no, psn_no AS psn_nos, setl_id AS setl_ids, items, ts, day AS day_first, day AS day_last,
       total_fen, n_lines, COALESCE(insurance_fen, 0) AS amount_fen,
       CASE WHEN total_fen > :large_fen THEN :large_fen ELSE :otc_limit_fen END AS limit_fen,
       CASE WHEN total_fen > :large_fen THEN '' ELSE '（全部为非处方药）' END AS otc_zh,
       CASE WHEN total_fen > :large_fen THEN '' ELSE ' (OTC drugs only)' END AS otc_en,
       'settlements:' || id AS evidence
FROM big
WHERE total_fen > :large_fen
   OR (:otc_limit_fen > 0 AND n_lines > 0 AND rx_lines = 0 AND total_fen > :otc_limit_fen)
ORDER BY store, epoch
