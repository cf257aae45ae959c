-- id: person_monthly_amount
-- category: abnormal_swipe
-- severity: medium
-- scope: all_stores
-- title_zh: 个人月度药店医保消费超限
-- title_en: One person's monthly insured pharmacy spending above the limit
-- why_zh: 上海规定参保人在定点药店月刷卡消费超过1200元即暂停刷卡至次月中旬。一个人一个月在药店（所有门店合计）医保结算远超这个水平，常见于冒用、出借医保卡或药店代刷套现。
-- why_zh: 按结算总额（medfee_sumamt，即刷卡结算的金额）计算，跨门店合计；已冲销的结算不计；至少 min_settlements 笔累计超限才报（单笔超限由“单次大额结算”规则报告）。涉及金额为当月医保基金和个人账户支付合计。
-- why_en: Shanghai suspends a card whose pharmacy spending exceeds 1,200 yuan in a month until mid next month. A person whose insured pharmacy settlements in one month (all stores together) go far beyond that is typical of borrowed or rented cards and of pharmacies cashing out cards.
-- why_en: Measured on the settlement totals (medfee_sumamt, what was settled on the card), summed over all stores; reversed settlements do not count; the limit must be passed over at least min_settlements settlements (a single large settlement is reported by person_large_settlement). The amount involved is the month's fund plus personal-account payments.
-- message_zh: 参保人 {psn_no} {month} 在 {n_stores} 家门店共结算 {n} 次，金额 {total_fen} 元，超过月度限额 {limit_fen} 元；医保基金及个人账户支付 {amount_fen} 元（本店 {store} 占 {store_fen} 元）
-- message_en: person {psn_no} settled {n} times for {total_fen} yuan at {n_stores} store(s) in {month}, above the monthly limit of {limit_fen} yuan; insurance paid {amount_fen} yuan ({store_fen} yuan at {store})
-- param limit_fen = 120000  # monthly limit on a person's insured pharmacy settlements, fen (Shanghai: 1,200 yuan)
-- param_zh limit_fen: 个人每月药店医保结算限额，分（上海：1,200 元）
-- param min_settlements = 2  # the limit must be passed over at least this many settlements (one large settlement is person_large_settlement's finding)
-- param_zh min_settlements: 至少这么多笔结算合计超限才报（单笔大额由 person_large_settlement 报告）
-- param high_factor = 2.0  # high severity when the month's total is at least this many times the limit
-- param_zh high_factor: 月合计达到限额的这么多倍记为高严重程度
WITH valid AS (
    SELECT s.id, s.store, s.setl_id, s.psn_no, s.month, s.day, s.medfee_fen, s.insurance_fen FROM v_settlement s
    WHERE s.psn_no IS NOT NULL AND s.psn_no <> ''
), over AS (
    -- the person-months above the limit first, with plain sums: the lists below are then
    -- built for these few only
    SELECT psn_no, month FROM valid GROUP BY psn_no, month
    HAVING SUM(COALESCE(medfee_fen, insurance_fen, 0)) > :limit_fen AND COUNT(*) >= :min_settlements
), sel AS (
    SELECT v.* FROM valid v JOIN over o ON o.psn_no = v.psn_no AND o.month = v.month
), tot AS (
    SELECT psn_no, month, COUNT(*) AS n, COUNT(DISTINCT store) AS n_stores,
           SUM(COALESCE(medfee_fen, insurance_fen, 0)) AS total_fen, SUM(COALESCE(insurance_fen, 0)) AS amount_fen,
           MIN(day) AS day_first, MAX(day) AS day_last,
           GROUP_CONCAT(setl_id) AS setl_ids, GROUP_CONCAT('settlements:' || id) AS evidence
    FROM sel GROUP BY psn_no, month
    HAVING SUM(COALESCE(medfee_fen, insurance_fen, 0)) > :limit_fen AND COUNT(*) >= :min_settlements
), by_store AS (
    SELECT psn_no, month, store, SUM(COALESCE(medfee_fen, insurance_fen, 0)) AS store_fen,
           ROW_NUMBER() OVER (PARTITION BY psn_no, month
                              ORDER BY SUM(COALESCE(medfee_fen, insurance_fen, 0)) DESC, store) AS rk
    FROM sel GROUP BY psn_no, month, store
)
SELECT b.store, t.psn_no, t.psn_no AS psn_nos, t.month, t.month AS period, t.day_first, t.day_last, t.n, t.n_stores,
       t.total_fen, :limit_fen AS limit_fen, b.store_fen, t.amount_fen, t.setl_ids, t.evidence,
       CASE WHEN t.total_fen >= :high_factor * :limit_fen THEN 'high' ELSE 'medium' END AS severity
FROM tot t JOIN by_store b ON b.psn_no = t.psn_no AND b.month = t.month AND b.rk = 1
ORDER BY b.store, t.psn_no, t.month
