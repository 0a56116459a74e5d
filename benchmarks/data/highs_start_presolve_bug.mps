NAME        
ROWS
 N  Obj     
 E  r0      
 E  r1      
 E  r2      
 E  r3      
 E  r4      
 E  r5      
 E  r6      
 E  r7      
 E  r8      
 E  r9      
 E  r10     
 E  r11     
 E  r12     
 E  r13     
 E  r14     
 E  r15     
 E  r16     
 E  r17     
 E  r18     
 E  r19     
 E  r20     
 E  r21     
 E  r22     
 E  r23     
 E  r24     
 E  r25     
 E  r26     
 E  r27     
 E  r28     
 E  r29     
 E  r30     
 E  r31     
 E  r32     
 E  r33     
 E  r34     
 E  r35     
 E  r36     
 E  r37     
 E  r38     
 E  r39     
 E  r40     
 E  r41     
 E  r42     
 E  r43     
 E  r44     
 E  r45     
 E  r46     
 E  r47     
 E  r48     
 E  r49     
 E  r50     
 E  r51     
 E  r52     
 E  r53     
 E  r54     
 E  r55     
 E  r56     
 E  r57     
 E  r58     
 L  r59     
 L  r60     
 L  r61     
 L  r62     
 L  r63     
 L  r64     
 L  r65     
 L  r66     
 L  r67     
 L  r68     
 L  r69     
 L  r70     
 L  r71     
 L  r72     
 L  r73     
 L  r74     
 L  r75     
 L  r76     
 L  r77     
 L  r78     
 L  r79     
 L  r80     
 L  r81     
 L  r82     
 L  r83     
 L  r84     
 L  r85     
 L  r86     
 L  r87     
 L  r88     
 L  r89     
 L  r90     
 L  r91     
 L  r92     
 L  r93     
 L  r94     
 L  r95     
COLUMNS
    MARK0000  'MARKER'                 'INTORG'
    c0        r1        1
    c0        r59       0.015625
    c0        r63       2
    c0        r64       2
    c1        r2        1
    c1        r59       0.015625
    c1        r63       2
    c1        r64       2
    c2        r2        1
    c2        r61       1
    c2        r64       2
    c2        r65       1
    c3        r2        1
    c3        r62       1
    c3        r66       1
    c4        r6        1
    c4        r59       0.015625
    c4        r63       2
    c5        r8        1
    c5        r59       0.125
    c5        r63       20
    c5        r64       20
    c6        r9        1
    c6        r59       0.015625
    c6        r63       2
    c6        r64       2
    c7        r13       1
    c7        r59       0.015625
    c7        r63       2
    c8        r13       1
    c8        r62       1
    c8        r67       1
    c9        r14       1
    c9        r59       0.015625
    c9        r63       2
    c10       r15       1
    c10       r59       0.015625
    c10       r63       2
    c11       r16       1
    c11       r59       0.015625
    c11       r63       2
    c12       r17       1
    c12       r59       0.015625
    c12       r63       2
    c12       r64       2
    c13       r17       1
    c13       r60       0.5
    c13       r64       2
    c13       r68       1
    c14       r17       1
    c14       r61       0.5
    c14       r64       2
    c14       r69       1
    c15       r17       1
    c15       r62       0.5
    c15       r70       1
    c16       r20       1
    c16       r59       0.015625
    c16       r63       2
    c17       r21       1
    c17       r59       0.015625
    c17       r63       20
    c18       r21       1
    c18       r59       0.03125
    c18       r63       2
    c19       r23       1
    c19       r59       0.015625
    c19       r63       2
    c19       r64       2
    c20       r24       1
    c20       r59       0.0625
    c20       r63       2
    c20       r64       2
    c21       r25       1
    c21       r59       0.015625
    c21       r63       2
    c22       r27       1
    c22       r59       0.015625
    c22       r63       2
    c22       r64       2
    c23       r27       1
    c23       r60       1
    c23       r64       2
    c23       r71       1
    c24       r27       1
    c24       r61       1
    c24       r64       2
    c24       r72       1
    c25       r27       1
    c25       r62       1
    c25       r73       1
    c26       r29       1
    c26       r59       0.03125
    c26       r63       2
    c27       r30       1
    c27       r59       0.0625
    c27       r63       2
    c28       r32       1
    c28       r59       0.03125
    c28       r63       2
    c29       r33       1
    c29       r59       0.015625
    c29       r63       2
    c29       r64       2
    c30       r33       1
    c30       r60       0.5
    c30       r64       2
    c30       r74       1
    c31       r33       1
    c31       r61       0.5
    c31       r64       2
    c31       r75       1
    c32       r33       1
    c32       r62       0.5
    c32       r76       1
    c33       r34       1
    c33       r59       0.015625
    c33       r63       2
    c33       r64       2
    c34       r34       1
    c34       r60       0.25
    c34       r64       2
    c34       r77       1
    c35       r34       1
    c35       r61       0.25
    c35       r64       2
    c35       r78       1
    c36       r34       1
    c36       r62       0.25
    c36       r79       1
    c37       r36       1
    c37       r59       0.015625
    c37       r63       2
    c37       r64       2
    c38       r39       1
    c38       r59       0.015625
    c38       r63       2
    c38       r64       2
    c39       r40       1
    c39       r59       0.015625
    c39       r63       2
    c40       r41       1
    c40       r59       0.015625
    c40       r63       2
    c41       r43       1
    c41       r59       0.015625
    c41       r63       2
    c42       r44       1
    c42       r59       0.015625
    c42       r63       2
    c43       r44       1
    c43       r60       1
    c43       r80       1
    c44       r44       1
    c44       r61       1
    c44       r81       1
    c45       r44       1
    c45       r62       1
    c45       r82       1
    c46       r45       1
    c46       r59       0.015625
    c46       r63       2
    c47       r46       1
    c47       r59       0.03125
    c47       r63       2
    c47       r64       2
    c48       r47       1
    c48       r59       0.015625
    c48       r63       2
    c48       r64       2
    c49       r47       1
    c49       r62       1
    c49       r83       1
    c50       r48       1
    c50       r59       0.015625
    c50       r63       2
    c50       r64       2
    c51       r49       1
    c51       r59       0.015625
    c51       r63       2
    c52       r50       1
    c52       r59       0.015625
    c52       r63       2
    c53       r50       1
    c53       r60       0.25
    c53       r84       1
    c54       r50       1
    c54       r61       0.25
    c54       r85       1
    c55       r50       1
    c55       r62       0.25
    c55       r86       1
    c56       r51       1
    c56       r59       0.015625
    c56       r63       2
    c56       r64       2
    c57       r51       1
    c57       r60       0.25
    c57       r64       2
    c57       r87       1
    c58       r51       1
    c58       r61       0.25
    c58       r64       2
    c58       r88       1
    c59       r51       1
    c59       r62       0.25
    c59       r89       1
    c60       r52       1
    c60       r59       0.015625
    c60       r63       2
    c61       r52       1
    c61       r60       0.25
    c61       r90       1
    c62       r52       1
    c62       r61       0.25
    c62       r91       1
    c63       r52       1
    c63       r62       0.25
    c63       r92       1
    c64       r53       1
    c64       r59       0.125
    c64       r63       2
    c65       r54       1
    c65       r59       0.015625
    c65       r63       2
    c65       r64       2
    c66       r55       1
    c66       r59       0.015625
    c66       r63       2
    c67       r55       1
    c67       r60       0.5
    c67       r93       1
    c68       r55       1
    c68       r61       0.5
    c68       r94       1
    c69       r55       1
    c69       r62       0.5
    c69       r95       1
    c70       r57       1
    c70       r59       0.0625
    c70       r63       2
    c71       Obj       1
    c71       r0        1
    c72       Obj       1
    c72       r1        1
    c73       Obj       1
    c73       r2        1
    c74       Obj       1
    c74       r3        1
    c75       Obj       1
    c75       r4        1
    c76       Obj       1
    c76       r5        1
    c77       Obj       1
    c77       r6        1
    c78       Obj       1
    c78       r7        1
    c79       Obj       1
    c79       r8        1
    c80       Obj       1
    c80       r9        1
    c81       Obj       1
    c81       r10       1
    c82       Obj       1
    c82       r11       1
    c83       Obj       1
    c83       r12       1
    c84       Obj       1
    c84       r13       1
    c85       Obj       1
    c85       r14       1
    c86       Obj       1
    c86       r15       1
    c87       Obj       1
    c87       r16       1
    c88       Obj       1
    c88       r17       1
    c89       Obj       1
    c89       r18       1
    c90       Obj       1
    c90       r19       1
    c91       Obj       1
    c91       r20       1
    c92       Obj       1
    c92       r21       1
    c93       Obj       1
    c93       r22       1
    c94       Obj       1
    c94       r23       1
    c95       Obj       1
    c95       r24       1
    c96       Obj       1
    c96       r25       1
    c97       Obj       1
    c97       r26       1
    c98       Obj       1
    c98       r27       1
    c99       Obj       1
    c99       r28       1
    c100      Obj       1
    c100      r29       1
    c101      Obj       1
    c101      r30       1
    c102      Obj       1
    c102      r31       1
    c103      Obj       1
    c103      r32       1
    c104      Obj       1
    c104      r33       1
    c105      Obj       1
    c105      r34       1
    c106      Obj       1
    c106      r35       1
    c107      Obj       1
    c107      r36       1
    c108      Obj       1
    c108      r37       1
    c109      Obj       1
    c109      r38       1
    c110      Obj       1
    c110      r39       1
    c111      Obj       1
    c111      r40       1
    c112      Obj       1
    c112      r41       1
    c113      Obj       1
    c113      r42       1
    c114      Obj       1
    c114      r43       1
    c115      Obj       1
    c115      r44       1
    c116      Obj       1
    c116      r45       1
    c117      Obj       1
    c117      r46       1
    c118      Obj       1
    c118      r47       1
    c119      Obj       1
    c119      r48       1
    c120      Obj       1
    c120      r49       1
    c121      Obj       1
    c121      r50       1
    c122      Obj       1
    c122      r51       1
    c123      Obj       1
    c123      r52       1
    c124      Obj       1
    c124      r53       1
    c125      Obj       1
    c125      r54       1
    c126      Obj       1
    c126      r55       1
    c127      Obj       1
    c127      r56       1
    c128      Obj       1
    c128      r57       1
    c129      Obj       1
    c129      r58       1
    c130      r68       -1
    c130      r71       -1
    c130      r74       -1
    c130      r77       -1
    c130      r80       -1
    c130      r84       -1
    c130      r87       -1
    c130      r90       -1
    c130      r93       -1
    c131      r65       -1
    c131      r69       -1
    c131      r72       -1
    c131      r75       -1
    c131      r78       -1
    c131      r81       -1
    c131      r85       -1
    c131      r88       -1
    c131      r91       -1
    c131      r94       -1
    c132      r66       -1
    c132      r67       -1
    c132      r70       -1
    c132      r73       -1
    c132      r76       -1
    c132      r79       -1
    c132      r82       -1
    c132      r83       -1
    c132      r86       -1
    c132      r89       -1
    c132      r92       -1
    c132      r95       -1
    MARK0001  'MARKER'                 'INTEND'
RHS
    RHS_V     r0        1
    RHS_V     r1        1
    RHS_V     r2        1
    RHS_V     r3        1
    RHS_V     r4        1
    RHS_V     r5        1
    RHS_V     r6        1
    RHS_V     r7        1
    RHS_V     r8        1
    RHS_V     r9        1
    RHS_V     r10       1
    RHS_V     r11       1
    RHS_V     r12       1
    RHS_V     r13       1
    RHS_V     r14       1
    RHS_V     r15       1
    RHS_V     r16       1
    RHS_V     r17       1
    RHS_V     r18       1
    RHS_V     r19       1
    RHS_V     r20       1
    RHS_V     r21       1
    RHS_V     r22       1
    RHS_V     r23       1
    RHS_V     r24       1
    RHS_V     r25       1
    RHS_V     r26       1
    RHS_V     r27       1
    RHS_V     r28       1
    RHS_V     r29       1
    RHS_V     r30       1
    RHS_V     r31       1
    RHS_V     r32       1
    RHS_V     r33       1
    RHS_V     r34       1
    RHS_V     r35       1
    RHS_V     r36       1
    RHS_V     r37       1
    RHS_V     r38       1
    RHS_V     r39       1
    RHS_V     r40       1
    RHS_V     r41       1
    RHS_V     r42       1
    RHS_V     r43       1
    RHS_V     r44       1
    RHS_V     r45       1
    RHS_V     r46       1
    RHS_V     r47       1
    RHS_V     r48       1
    RHS_V     r49       1
    RHS_V     r50       1
    RHS_V     r51       1
    RHS_V     r52       1
    RHS_V     r53       1
    RHS_V     r54       1
    RHS_V     r55       1
    RHS_V     r56       1
    RHS_V     r57       1
    RHS_V     r58       1
    RHS_V     r59       1
    RHS_V     r60       1
    RHS_V     r61       1
    RHS_V     r62       1
    RHS_V     r63       42.797743293853522
    RHS_V     r64       300
BOUNDS
 BV BOUND     c0      
 BV BOUND     c1      
 BV BOUND     c2      
 BV BOUND     c3      
 BV BOUND     c4      
 BV BOUND     c5      
 BV BOUND     c6      
 BV BOUND     c7      
 BV BOUND     c8      
 BV BOUND     c9      
 BV BOUND     c10     
 BV BOUND     c11     
 BV BOUND     c12     
 BV BOUND     c13     
 BV BOUND     c14     
 BV BOUND     c15     
 BV BOUND     c16     
 BV BOUND     c17     
 BV BOUND     c18     
 BV BOUND     c19     
 BV BOUND     c20     
 BV BOUND     c21     
 BV BOUND     c22     
 BV BOUND     c23     
 BV BOUND     c24     
 BV BOUND     c25     
 BV BOUND     c26     
 BV BOUND     c27     
 BV BOUND     c28     
 BV BOUND     c29     
 BV BOUND     c30     
 BV BOUND     c31     
 BV BOUND     c32     
 BV BOUND     c33     
 BV BOUND     c34     
 BV BOUND     c35     
 BV BOUND     c36     
 BV BOUND     c37     
 BV BOUND     c38     
 BV BOUND     c39     
 BV BOUND     c40     
 BV BOUND     c41     
 BV BOUND     c42     
 BV BOUND     c43     
 BV BOUND     c44     
 BV BOUND     c45     
 BV BOUND     c46     
 BV BOUND     c47     
 BV BOUND     c48     
 BV BOUND     c49     
 BV BOUND     c50     
 BV BOUND     c51     
 BV BOUND     c52     
 BV BOUND     c53     
 BV BOUND     c54     
 BV BOUND     c55     
 BV BOUND     c56     
 BV BOUND     c57     
 BV BOUND     c58     
 BV BOUND     c59     
 BV BOUND     c60     
 BV BOUND     c61     
 BV BOUND     c62     
 BV BOUND     c63     
 BV BOUND     c64     
 BV BOUND     c65     
 BV BOUND     c66     
 BV BOUND     c67     
 BV BOUND     c68     
 BV BOUND     c69     
 BV BOUND     c70     
 BV BOUND     c71     
 BV BOUND     c72     
 BV BOUND     c73     
 BV BOUND     c74     
 BV BOUND     c75     
 BV BOUND     c76     
 BV BOUND     c77     
 BV BOUND     c78     
 BV BOUND     c79     
 BV BOUND     c80     
 BV BOUND     c81     
 BV BOUND     c82     
 BV BOUND     c83     
 BV BOUND     c84     
 BV BOUND     c85     
 BV BOUND     c86     
 BV BOUND     c87     
 BV BOUND     c88     
 BV BOUND     c89     
 BV BOUND     c90     
 BV BOUND     c91     
 BV BOUND     c92     
 BV BOUND     c93     
 BV BOUND     c94     
 BV BOUND     c95     
 BV BOUND     c96     
 BV BOUND     c97     
 BV BOUND     c98     
 BV BOUND     c99     
 BV BOUND     c100    
 BV BOUND     c101    
 BV BOUND     c102    
 BV BOUND     c103    
 BV BOUND     c104    
 BV BOUND     c105    
 BV BOUND     c106    
 BV BOUND     c107    
 BV BOUND     c108    
 BV BOUND     c109    
 BV BOUND     c110    
 BV BOUND     c111    
 BV BOUND     c112    
 BV BOUND     c113    
 BV BOUND     c114    
 BV BOUND     c115    
 BV BOUND     c116    
 BV BOUND     c117    
 BV BOUND     c118    
 BV BOUND     c119    
 BV BOUND     c120    
 BV BOUND     c121    
 BV BOUND     c122    
 BV BOUND     c123    
 BV BOUND     c124    
 BV BOUND     c125    
 BV BOUND     c126    
 BV BOUND     c127    
 BV BOUND     c128    
 BV BOUND     c129    
 BV BOUND     c130    
 BV BOUND     c131    
 BV BOUND     c132    
ENDATA
