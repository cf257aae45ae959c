-- id: store_outlier
-- category: abnormal_swipe
-- severity: medium
-- scope: all_stores
-- title_zh: 门店刷卡次数或金额远高于同类门店
-- title_en: Store whose swipe count or amount is far above its peers
-- why_zh: 同一连锁或同一地区的门店，月度医保结算笔数和金额一般相差不大；某家门店某月远高于其他门店（执法案例：日均刷卡196次，而实际客流不到30人），说明可能存在集中代刷、虚构购药，是现场检查的优先对象。
-- why_zh: 用稳健统计而不是固定数字：同月所有门店的中位数和中位数绝对偏差(MAD)，稳健Z值 = (本店 - 中位数) / (1.4826 × MAD)，超过 z_max 且至少是中位数的 min_ratio 倍才报。门店少于 min_stores 家时不比较。这是排查线索，不是违规证据，因此为中风险；涉及金额为超出中位数的医保支付部分。
-- why_en: Stores of one chain or area settle similar numbers and amounts per month; a store far above its peers in a month (an enforcement case: 196 swipes a day at a store with under 30 visitors) may be swiping collected cards or inventing purchases, and is where an inspection should start.
-- why_en: Robust statistics, not a fixed number: median and median absolute deviation (MAD) over all stores in the same month; robust z = (store - median) / (1.4826 x MAD), reported above z_max when the store is also at least min_ratio times the median. Months with fewer than min_stores stores are not compared. A lead for inspection, not proof: medium severity; the amount is the insurance payment above the median.
-- message_zh: {store} {month} 医保结算 {n} 笔、医保支付 {ins_fen} 元，同月 {n_stores} 家门店中位数为 {med_n} 笔、{med_fen} 元（稳健Z值：笔数 {z_n}，金额 {z_amt}）；超出中位数的医保支付 {amount_fen} 元
-- message_en: {store} had {n} settlements and {ins_fen} yuan of insurance payments in {month}; the median of {n_stores} stores that month is {med_n} settlements and {med_fen} yuan (robust z: count {z_n}, amount {z_amt}); {amount_fen} yuan above the median
-- param z_max = 3.5  # robust z above which a store-month is an outlier (3.5 is the usual cut-off for the modified z-score)
-- param_zh z_max: 稳健 z 值超过此数的门店月份为离群（3.5 是修正 z 分数常用的界限）
-- param min_ratio = 1.5  # and the store must be at least this many times the median
-- param_zh min_ratio: 且门店至少是中位数的这么多倍
-- param min_stores = 5  # fewer stores in a month are too few peers to compare
-- param_zh min_stores: 当月门店少于此数则同类门店太少，不比较
-- param mad_floor = 0.05  # the MAD is taken as at least this share of the median (stores that are all alike)
-- param_zh mad_floor: MAD 至少取中位数的此比例（各门店都很接近时）
WITH valid AS (
    SELECT s.id, s.store, s.month, s.day, s.insurance_fen FROM v_settlement s
    WHERE s.month IS NOT NULL
), sm AS (
    -- the evidence (every settlement of the month) is listed for the outliers only, below
    SELECT store, month, COUNT(*) AS n, SUM(COALESCE(insurance_fen, 0)) AS ins_fen, MIN(day) AS day_first,
           MAX(day) AS day_last
    FROM valid GROUP BY store, month
), ranked AS (
    SELECT sm.*, COUNT(*) OVER (PARTITION BY month) AS n_stores,
           ROW_NUMBER() OVER (PARTITION BY month ORDER BY n, store) AS rn_n,
           ROW_NUMBER() OVER (PARTITION BY month ORDER BY ins_fen, store) AS rn_a
    FROM sm
), med AS (
    SELECT month, MAX(n_stores) AS n_stores,
           AVG(CASE WHEN 2 * rn_n BETWEEN n_stores AND n_stores + 2 THEN n * 1.0 END) AS med_n,
           AVG(CASE WHEN 2 * rn_a BETWEEN n_stores AND n_stores + 2 THEN ins_fen * 1.0 END) AS med_a
    FROM ranked GROUP BY month
), dev AS (
    SELECT r.store, r.month, m.n_stores, ABS(r.n - m.med_n) AS d_n, ABS(r.ins_fen - m.med_a) AS d_a
    FROM ranked r JOIN med m ON m.month = r.month
), dev_ranked AS (
    SELECT dev.*, ROW_NUMBER() OVER (PARTITION BY month ORDER BY d_n, store) AS rn_n,
           ROW_NUMBER() OVER (PARTITION BY month ORDER BY d_a, store) AS rn_a
    FROM dev
), mad AS (
    SELECT month, AVG(CASE WHEN 2 * rn_n BETWEEN n_stores AND n_stores + 2 THEN d_n END) AS mad_n,
           AVG(CASE WHEN 2 * rn_a BETWEEN n_stores AND n_stores + 2 THEN d_a END) AS mad_a
    FROM dev_ranked GROUP BY month
), scored AS (
    SELECT r.*, m.med_n, m.med_a,
           (r.n - m.med_n) / (CASE WHEN 1.4826 * d.mad_n > :mad_floor * m.med_n THEN 1.4826 * d.mad_n
                                   WHEN :mad_floor * m.med_n > 0 THEN :mad_floor * m.med_n ELSE 1.0 END) AS z_n,
           (r.ins_fen - m.med_a) / (CASE WHEN 1.4826 * d.mad_a > :mad_floor * m.med_a THEN 1.4826 * d.mad_a
                                         WHEN :mad_floor * m.med_a > 0 THEN :mad_floor * m.med_a ELSE 1.0 END) AS z_a
    FROM ranked r JOIN med m ON m.month = r.month JOIN mad d ON d.month = r.month
    WHERE r.n_stores >= :min_stores
), outliers AS (
    SELECT store, month, month AS period, day_first, day_last, n, n_stores, ins_fen,
           CAST(ROUND(med_n) AS INTEGER) AS med_n, CAST(ROUND(med_a) AS INTEGER) AS med_fen,
           ROUND(z_n, 1) AS z_n, ROUND(z_a, 1) AS z_amt,
           CASE WHEN ins_fen > med_a THEN CAST(ROUND(ins_fen - med_a) AS INTEGER) ELSE 0 END AS amount_fen
    FROM scored
    WHERE (z_n > :z_max AND n >= :min_ratio * med_n) OR (z_a > :z_max AND ins_fen >= :min_ratio * med_a)
), shown AS (
    -- the evidence is every settlement of the month: those a finding shows are listed (the
    -- first evidence_limit by row), all of them counted (evidence_total = n);
    -- listing them all made two million references at 10M lines for Python to parse
    SELECT v.store, v.month, 'settlements:' || v.id AS ref,
           ROW_NUMBER() OVER (PARTITION BY v.store, v.month ORDER BY v.id) AS k
    FROM v_settlement v JOIN outliers o ON o.store = v.store AND o.month = v.month
), listed AS (
    SELECT store, month, GROUP_CONCAT(ref) AS evidence FROM shown WHERE k <= :evidence_limit GROUP BY store, month
)
SELECT o.*, l.evidence, o.n AS evidence_total
FROM outliers o JOIN listed l ON l.store = o.store AND l.month = o.month
ORDER BY o.store, o.month
